/*! guichet website chat widget: one <script src=".../widget.js" defer> tag puts an
 * accessible assistant on a city page. It shows only what the server sends (validated
 * answers, word for word, or how to reach a person) and its own interface labels below.
 * No framework, no third party, no cookies; nothing is stored before the person opens it,
 * and then only in sessionStorage (gone when the tab closes). Untrusted text only ever
 * reaches the page through textContent / createTextNode, never as HTML. */
(function () {
  'use strict';

  var script = document.currentScript;
  if (!script || !script.src || window.__guichetWidget) return;
  window.__guichetWidget = true;

  // Interface labels (not validated sentences: those come from the corpus's messages.toml).
  var TEXTS = {
    fr: {
      launcher: 'Une question ?',
      open: 'Ouvrir l\u2019assistant',
      title: 'Assistant de la Ville',
      close: 'Fermer',
      closeLabel: 'Fermer l\u2019assistant',
      conversation: 'Conversation avec l\u2019assistant',
      input: 'Votre question',
      send: 'Envoyer',
      human: 'Parler \u00e0 une personne',
      humanMessage: 'Je veux parler \u00e0 une personne',
      you: 'Vous\u00a0:',
      bot: 'L\u2019assistant\u00a0:',
      easy: 'Plus simple',
      service: 'Service\u00a0:',
      validated: 'R\u00e9ponse valid\u00e9e le',
      official: 'Page officielle',
      helpful: 'Cette r\u00e9ponse vous a-t-elle aid\u00e9\u00a0?',
      yes: 'Oui',
      no: 'Non',
      phone: 'T\u00e9l\u00e9phone\u00a0:',
      email: 'Courriel\u00a0:',
      address: 'Adresse\u00a0:',
      web: 'Site\u00a0:',
      hours: 'Horaires d\u2019ouverture',
      day: 'Jour',
      open_hours: 'Heures',
      dayClosed: 'Ferm\u00e9',
      days: { mon: 'Lundi', tue: 'Mardi', wed: 'Mercredi', thu: 'Jeudi', fri: 'Vendredi', sat: 'Samedi', sun: 'Dimanche' },
      waiting: 'Recherche en cours\u2026',
      unavailable: 'L\u2019assistant n\u2019est pas disponible pour le moment. Veuillez r\u00e9essayer plus tard.',
      tooLong: 'Votre message est trop long : 1\u00a0000 caract\u00e8res au plus.',
      and: ', ',
      ticket: 'Votre demande de contact',
      cancel: 'Annuler ma demande',
      agentRole: 'agent',
      taken: ' a pris votre demande.',
      unread: 'Nouveau message d\u2019un agent',
      excerpt: 'D\u00e9but de la r\u00e9ponse\u00a0:'
    },
    en: {
      launcher: 'Any questions?',
      open: 'Open the assistant',
      title: 'City assistant',
      close: 'Close',
      closeLabel: 'Close the assistant',
      conversation: 'Conversation with the assistant',
      input: 'Your question',
      send: 'Send',
      human: 'Talk to a person',
      humanMessage: 'I want to speak to a person',
      you: 'You:',
      bot: 'Assistant:',
      easy: 'Simpler',
      service: 'Department:',
      validated: 'Answer validated on',
      official: 'Official page',
      helpful: 'Did this answer help you?',
      yes: 'Yes',
      no: 'No',
      phone: 'Phone:',
      email: 'Email:',
      address: 'Address:',
      web: 'Website:',
      hours: 'Opening hours',
      day: 'Day',
      open_hours: 'Hours',
      dayClosed: 'Closed',
      days: { mon: 'Monday', tue: 'Tuesday', wed: 'Wednesday', thu: 'Thursday', fri: 'Friday', sat: 'Saturday', sun: 'Sunday' },
      waiting: 'Searching\u2026',
      unavailable: 'The assistant is not available right now. Please try again later.',
      tooLong: 'Your message is too long: 1,000 characters at most.',
      and: ', ',
      ticket: 'Your request to talk to a person',
      cancel: 'Cancel my request',
      agentRole: 'staff',
      taken: ' has taken your request.',
      unread: 'New message from a member of staff',
      excerpt: 'Start of the answer:'
    }
  };
  var DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
  var STORE_KEY = 'guichet:conversation';
  // While a ticket is open, agents' messages are fetched this often (ms); less often in a
  // hidden tab, and after a failed fetch.
  var POLL_VISIBLE = 3000;
  var POLL_HIDDEN = 15000;
  var POLL_RETRY = 10000;
  var DEFAULT_COLOR = '#1d4e89';

  var data = script.dataset || {};
  var pageLang = (document.documentElement.getAttribute('lang') || 'fr').slice(0, 2).toLowerCase();
  var ui = (data.lang || pageLang) === 'en' ? 'en' : 'fr';
  var T = TEXTS[ui];
  // On a French page the engine detects the language of each question (so a visitor who
  // writes in English gets English); another interface language is also asked for.
  var askLang = ui === 'fr' ? null : ui;
  var title = data.title || T.title;
  var position = data.position === 'left' ? 'left' : 'right';
  var color = safeColor(data.color);
  var base = new URL('./', script.src);
  function endpoint(path) { return new URL(path, base).href; }

  // ---- state (sessionStorage, only once the person has opened the widget) ----------

  var state = load();
  var messages = null;
  var busy = false;

  function load() {
    try {
      var raw = window.sessionStorage.getItem(STORE_KEY);
      var s = raw && JSON.parse(raw);
      return s && typeof s.sid === 'string' && Array.isArray(s.turns) ? s : null;
    } catch (e) { return null; }
  }
  function save() {
    if (!state) return;
    try { window.sessionStorage.setItem(STORE_KEY, JSON.stringify(state)); } catch (e) { /* storage full or off: the conversation just won't survive a page change */ }
  }
  function newSessionId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b < 16 ? '0' : '') + b.toString(16); }).join('');
  }

  // ---- DOM helpers --------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === 'text') node.textContent = v;
        else if (k === 'class') node.className = v;
        else node.setAttribute(k, v === true ? '' : String(v));
      });
    }
    (children || []).forEach(function (c) {
      if (c !== null && c !== undefined) node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return node;
  }
  function srOnly(text) { return el('span', { class: 'g-sr', text: text }); }
  var uid = 0;
  function id(prefix) { uid += 1; return 'guichet-' + prefix + '-' + uid; }

  function safeUrl(href) {
    try {
      var u = new URL(href, window.location.href);
      return /^(https?:|tel:|mailto:)$/.test(u.protocol) ? u.href : null;
    } catch (e) { return null; }
  }
  function telHref(phone) {
    var digits = String(phone).replace(/[^\d+]/g, '');
    return digits ? 'tel:' + digits : null;
  }

  // A colour from data-color is used only if white text on it keeps a 4.5:1 contrast.
  function safeColor(value) {
    var m = /^#([0-9a-f]{6})$/i.exec(value || '');
    if (!m) return DEFAULT_COLOR;
    var rgb = [0, 2, 4].map(function (i) {
      var c = parseInt(m[1].substr(i, 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    var lum = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
    return 1.05 / (lum + 0.05) >= 4.5 ? value : DEFAULT_COLOR;
  }

  // ---- safe Markdown subset: paragraphs, lists, bold, italic, code, safe links --------

  function renderMarkdown(source, into) {
    var lines = String(source).replace(/\r\n?/g, '\n').split('\n');
    var para = null;
    var list = null;
    var item = null;
    function flush() { para = null; list = null; item = null; }
    lines.forEach(function (line) {
      var bullet = /^\s{0,3}[-*+]\s+(.*)$/.exec(line);
      var numbered = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/.exec(line);
      if (!line.trim()) { flush(); return; }
      if (bullet || numbered) {
        var tag = bullet ? 'ul' : 'ol';
        if (!list || list.tagName.toLowerCase() !== tag) {
          list = el(tag);
          if (numbered && numbered[1] !== '1') list.setAttribute('start', numbered[1]);
          into.appendChild(list);
        }
        para = null;
        item = el('li');
        inline(bullet ? bullet[1] : numbered[2], item);
        list.appendChild(item);
        return;
      }
      var heading = /^\s{0,3}#{1,6}\s+(.*)$/.exec(line);
      if (item && /^\s+/.test(line)) {
        item.appendChild(document.createTextNode(' '));
        inline(line.trim(), item);
        return;
      }
      list = null; item = null;
      if (heading) {
        var strong = el('strong');
        inline(heading[1], strong);
        into.appendChild(el('p', null, [strong]));
        para = null;
        return;
      }
      if (para) para.appendChild(el('br'));
      else { para = el('p'); into.appendChild(para); }
      inline(line.trim(), para);
    });
  }

  function inline(text, into) {
    var buf = '';
    function text_() { if (buf) { into.appendChild(document.createTextNode(buf)); buf = ''; } }
    var i = 0;
    while (i < text.length) {
      var c = text[i];
      var rest = text.slice(i);
      if (c === '\\' && i + 1 < text.length && /[!-\/:-@\[-`{-~]/.test(text[i + 1])) {
        buf += text[i + 1]; i += 2; continue;
      }
      if (c === '`') {
        var end = text.indexOf('`', i + 1);
        if (end > i + 1) { text_(); into.appendChild(el('code', { text: text.slice(i + 1, end) })); i = end + 1; continue; }
      }
      if (rest.indexOf('**') === 0 || rest.indexOf('__') === 0) {
        var mark = rest.slice(0, 2);
        var close = text.indexOf(mark, i + 2);
        if (close > i + 2 && !/\s/.test(text[i + 2]) && !/\s/.test(text[close - 1])) {
          text_(); var b = el('strong'); inline(text.slice(i + 2, close), b); into.appendChild(b); i = close + 2; continue;
        }
      }
      if ((c === '*' || c === '_') && i + 1 < text.length && !/\s/.test(text[i + 1]) &&
          !(c === '_' && i > 0 && /[\p{L}\p{N}]/u.test(text[i - 1]))) {
        var j = i + 1;
        var found = -1;
        while ((j = text.indexOf(c, j)) !== -1) {
          var doubled = text[j + 1] === c || text[j - 1] === c;
          var okEnd = !/\s/.test(text[j - 1]) && !(c === '_' && j + 1 < text.length && /[\p{L}\p{N}]/u.test(text[j + 1]));
          if (!doubled && okEnd && j > i + 1) { found = j; break; }
          j += 1;
        }
        if (found !== -1) {
          text_(); var em = el('em'); inline(text.slice(i + 1, found), em); into.appendChild(em); i = found + 1; continue;
        }
      }
      if (c === '[') {
        var link = /^\[([^\]]+)\]\(([^()\s]+)\)/.exec(rest);
        var href = link && safeUrl(link[2]);
        if (href) {
          text_(); var a = el('a', { href: href }); inline(link[1], a); into.appendChild(a); i += link[0].length; continue;
        }
      }
      buf += c; i += 1;
    }
    text_();
  }

  // ---- the widget ---------------------------------------------------------------------

  var host = el('div', { class: 'guichet-host', 'data-guichet': '' });
  var root = host.attachShadow ? host.attachShadow({ mode: 'open' }) : host;
  var ids = { panel: id('panel'), title: id('title'), input: id('input'), warning: id('warning') };

  var stylesheet = el('link', { rel: 'stylesheet', href: endpoint('widget.css') });
  var wrapper = el('div', { class: 'g-root g-' + position, lang: ui, dir: 'ltr' });
  wrapper.style.setProperty('--g-color', color);

  var launcher = el('button', {
    type: 'button', class: 'g-launcher', 'aria-expanded': 'false', 'aria-controls': ids.panel
  }, [
    el('span', { class: 'g-icon', 'aria-hidden': 'true', text: '?' }),
    el('span', { text: T.launcher }),
    srOnly(' ' + T.open + ' \u2013 ' + title)
  ]);
  var unread = el('span', { class: 'g-unread', hidden: true }, [
    el('span', { class: 'g-unread-dot', 'aria-hidden': 'true' }), srOnly(' ' + T.unread)
  ]);
  launcher.appendChild(unread);

  var closeButton = el('button', { type: 'button', class: 'g-close', 'aria-label': T.closeLabel }, [
    el('span', { 'aria-hidden': 'true', text: '\u00d7' }),
    el('span', { class: 'g-close-text', 'aria-hidden': 'true', text: T.close })
  ]);
  var turnsList = el('ol', { class: 'g-turns' });
  var pending = el('p', { class: 'g-pending', hidden: true }, [
    el('span', { class: 'g-dots', 'aria-hidden': 'true' }, [el('span'), el('span'), el('span')]),
    el('span', { class: 'g-sr', text: T.waiting })
  ]);
  var log = el('div', {
    class: 'g-log', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions',
    'aria-label': T.conversation, tabindex: '0'
  }, [turnsList]);
  var input = el('input', {
    id: ids.input, type: 'text', class: 'g-input', name: 'message', maxlength: '1000',
    autocomplete: 'off', 'aria-describedby': ids.warning
  });
  var warning = el('p', { id: ids.warning, class: 'g-warning' });
  var notice = el('p', { class: 'g-notice', role: 'status' });
  var form = el('form', { class: 'g-form', novalidate: true }, [
    el('label', { for: ids.input, class: 'g-label', text: T.input }),
    el('div', { class: 'g-row' }, [input, el('button', { type: 'submit', class: 'g-send', text: T.send })]),
    notice,
    warning
  ]);
  var humanButton = el('button', { type: 'button', class: 'g-human', text: T.human });
  // An open request for a person: what it waits for, who has it, and how to withdraw it.
  var ticketNotice = el('p', { class: 'g-ticket-notice' });
  var ticketAgent = el('p', { class: 'g-ticket-agent' });
  var cancelButton = el('button', { type: 'button', class: 'g-cancel', text: T.cancel });
  var ticketBox = el('div', { class: 'g-ticket', role: 'status', hidden: true }, [
    el('p', { class: 'g-ticket-title', text: T.ticket }), ticketNotice, ticketAgent, cancelButton
  ]);
  var panel = el('div', {
    id: ids.panel, class: 'g-panel', role: 'dialog', 'aria-labelledby': ids.title, hidden: true
  }, [
    el('div', { class: 'g-header' }, [el('h2', { id: ids.title, class: 'g-title', text: title }), closeButton]),
    log,
    pending,
    ticketBox,
    form,
    el('div', { class: 'g-footer' }, [humanButton])
  ]);
  wrapper.appendChild(launcher);
  wrapper.appendChild(panel);
  root.appendChild(stylesheet);
  root.appendChild(wrapper);

  function isOpen() { return !panel.hidden; }

  function open(focus) {
    if (!state) {
      state = { sid: newSessionId(), open: true, turns: [] };
    }
    state.open = true;
    save();
    unread.hidden = true;
    panel.hidden = false;
    launcher.setAttribute('aria-expanded', 'true');
    wrapper.classList.add('g-is-open');
    if (focus) input.focus();
    ensureMessages().then(function () {
      if (!state.turns.some(function (t) { return t.who === 'greeting'; })) {
        state.turns.unshift({ who: 'greeting' });
        save();
        turnsList.insertBefore(renderTurn(state.turns[0]), turnsList.firstChild);
      }
    }, function () {
      showNotice(T.unavailable);
    });
  }

  function close() {
    panel.hidden = true;
    launcher.setAttribute('aria-expanded', 'false');
    wrapper.classList.remove('g-is-open');
    if (state) { state.open = false; save(); }
    launcher.focus();
  }

  function showNotice(text) { notice.textContent = text; }

  var messagesPromise = null;
  function ensureMessages() {
    if (!messagesPromise) {
      messagesPromise = fetch(endpoint('v1/widget/messages?lang=' + ui), { credentials: 'omit' })
        .then(function (r) { if (!r.ok) throw new Error('messages ' + r.status); return r.json(); })
        .then(function (m) {
          messages = m;
          warning.textContent = m.messages.personal_data_warning;
          warning.setAttribute('lang', m.lang);
          return m;
        });
      messagesPromise.catch(function () { messagesPromise = null; });
    }
    return messagesPromise;
  }
  function validated(key) { return messages ? messages.messages[key] : T.unavailable; }

  // ---- rendering of turns ---------------------------------------------------------------

  function renderTurn(turn) {
    if (turn.who === 'me') {
      return el('li', { class: 'g-msg g-me' }, [srOnly(T.you + ' '), el('p', { text: turn.text })]);
    }
    if (turn.who === 'greeting') {
      return el('li', { class: 'g-msg g-bot g-greeting', lang: messages ? messages.lang : ui }, [
        srOnly(T.bot + ' '), el('p', { text: validated('greeting') })
      ]);
    }
    if (turn.who === 'agent') {
      // A person's words, not a validated text: shown as plain text, with who wrote them.
      var name = turn.agent || validated('agent_label');
      // A validated answer the agent sent: the city's text, rendered like the assistant's.
      if (turn.entry) {
        var validatedBody = el('div', { class: 'g-agent-text', 'data-entry': turn.entry });
        renderMarkdown(turn.text, validatedBody);
        return el('li', { class: 'g-msg g-agent' }, [
          srOnly(name + ' (' + T.agentRole + ')\u00a0: '),
          el('p', { class: 'g-who', 'aria-hidden': 'true', text: name }),
          validatedBody
        ]);
      }
      var body = el('div', { class: 'g-agent-text' });
      String(turn.text).split(/\n{2,}/).forEach(function (para) {
        var p = el('p');
        para.split('\n').forEach(function (line, i) {
          if (i) p.appendChild(el('br'));
          p.appendChild(document.createTextNode(line));
        });
        body.appendChild(p);
      });
      return el('li', { class: 'g-msg g-agent' }, [
        srOnly(name + ' (' + T.agentRole + ')\u00a0: '),
        el('p', { class: 'g-who', 'aria-hidden': 'true', text: name }),
        body
      ]);
    }
    if (turn.who === 'notice') {
      return el('li', { class: 'g-msg g-bot g-event', lang: messages ? messages.lang : ui }, [
        srOnly(T.bot + ' '), el('p', { text: validated(turn.key) })
      ]);
    }
    if (turn.who === 'error') {
      return el('li', { class: 'g-msg g-bot g-error', lang: messages ? messages.lang : ui }, [
        srOnly(T.bot + ' '), el('p', { text: turn.text })
      ]);
    }
    var reply = turn.reply;
    var li = el('li', { class: 'g-msg g-bot g-' + reply.outcome, lang: reply.lang, dir: dirOf(reply.lang), 'data-outcome': reply.outcome });
    li.appendChild(el('span', { class: 'g-sr', lang: ui, text: T.bot + ' ' }));
    if (reply.outcome === 'answer' && reply.entry) renderAnswer(reply, turn, li);
    else if (reply.outcome === 'clarify') renderClarify(reply, li);
    else if (reply.outcome === 'handoff' && reply.handoff) renderHandoff(reply.handoff, li);
    return li;
  }

  function renderAnswer(reply, turn, li) {
    var entry = reply.entry;
    // A validated notice about the text served (its translation is being checked again).
    if (reply.message) li.appendChild(el('p', { class: 'g-note', text: reply.message }));
    li.appendChild(el('p', { class: 'g-entry-q', text: entry.question }));
    var body = el('div', { class: 'g-answer-text', 'data-entry': entry.id, 'data-variant': 'full' });
    renderMarkdown(entry.answer, body);
    li.appendChild(body);
    if (entry.easy_read && entry.easy_read.answer) {
      var toggle = el('button', { type: 'button', class: 'g-chip g-easy', 'aria-pressed': 'false', lang: ui, text: T.easy });
      toggle.addEventListener('click', function () {
        var easy = toggle.getAttribute('aria-pressed') !== 'true';
        toggle.setAttribute('aria-pressed', easy ? 'true' : 'false');
        body.textContent = '';
        body.setAttribute('data-variant', easy ? 'easy' : 'full');
        renderMarkdown(easy ? entry.easy_read.answer : entry.answer, body);
      });
      li.appendChild(toggle);
    }
    var meta = el('p', { class: 'g-meta', lang: ui });
    var serviceName = messages && messages.services && messages.services[entry.service];
    meta.appendChild(el('span', null, [T.service + ' ', el('span', { lang: reply.lang, text: serviceName || entry.service })]));
    if (entry.validated_on) {
      meta.appendChild(document.createTextNode(' \u00b7 '));
      meta.appendChild(el('span', { text: T.validated + ' ' + formatDate(entry.validated_on) }));
    }
    li.appendChild(meta);
    var official = entry.url && safeUrl(entry.url);
    if (official) li.appendChild(el('p', { class: 'g-meta', lang: ui }, [el('a', { href: official, text: T.official })]));
    li.appendChild(renderFeedback(entry, turn));
  }

  function renderFeedback(entry, turn) {
    var label = id('helpful');
    var group = el('div', { class: 'g-feedback', role: 'group', 'aria-labelledby': label, lang: ui });
    group.appendChild(el('span', { id: label, class: 'g-feedback-q', text: T.helpful }));
    var thanks = el('p', { class: 'g-thanks' });
    var buttons = [true, false].map(function (helpful) {
      var b = el('button', { type: 'button', class: 'g-chip g-thumb', 'data-helpful': String(helpful) }, [
        thumb(helpful), helpful ? T.yes : T.no
      ]);
      b.addEventListener('click', function () { sendFeedback(entry, turn, helpful, buttons, thanks); });
      return b;
    });
    buttons.forEach(function (b) { group.appendChild(b); });
    if (turn.feedback !== undefined) {
      buttons.forEach(function (b) { b.disabled = true; });
      showThanks(thanks);
    }
    var wrap = el('div', null, [group, thanks]);
    return wrap;
  }

  // A thumb drawn inline (no emoji font, no image request); decorative, the label says it.
  function thumb(up) {
    var NS = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    svg.setAttribute('class', 'g-thumb-icon');
    var path = document.createElementNS(NS, 'path');
    path.setAttribute('d', 'M2 10h4v11H2z M8 21h9.5a2 2 0 0 0 2-1.6l1.4-7A2 2 0 0 0 19 10h-5.5l.9-4.3A1.8 1.8 0 0 0 12.6 3.5L8 10z');
    path.setAttribute('fill', 'currentColor');
    if (!up) path.setAttribute('transform', 'rotate(180 12 12)');
    svg.appendChild(path);
    return svg;
  }

  function showThanks(thanks) {
    thanks.textContent = validated('feedback_thanks');
    if (messages) thanks.setAttribute('lang', messages.lang);
  }

  function sendFeedback(entry, turn, helpful, buttons, thanks) {
    if (turn.feedback !== undefined) return;
    turn.feedback = helpful;
    save();
    buttons.forEach(function (b) { b.disabled = true; });
    thanks.setAttribute('tabindex', '-1');
    showThanks(thanks);
    thanks.focus();
    var body = { entry_id: entry.id, answer_sha256: entry.answer_sha256, helpful: helpful };
    if (state && state.sid) body.session_id = state.sid;
    // A 404 means the server has no feedback store yet: the person is not told of it.
    fetch(endpoint('v1/feedback'), {
      method: 'POST', credentials: 'omit',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body)
    }).catch(function () { /* feedback is best effort */ });
  }

  function renderClarify(reply, li) {
    if (reply.message) li.appendChild(el('p', { text: reply.message }));
    var list = el('ul', { class: 'g-options' });
    (reply.options || []).forEach(function (option) {
      var b = el('button', { type: 'button', class: 'g-option', 'data-entry': option.id, text: option.question });
      b.addEventListener('click', function () { ask(option.question, option.id); });
      var item = el('li', null, [b]);
      // A lone option shows the opening of its validated answer: the person sees whether
      // it is the right one before tapping.
      if (option.excerpt) {
        var eid = id('excerpt');
        var excerpt = el('div', { id: eid, class: 'g-excerpt' }, [srOnly(T.excerpt + ' ')]);
        renderMarkdown(option.excerpt, excerpt);
        var last = excerpt.lastElementChild;
        (last && last.tagName !== 'SPAN' ? last : excerpt).appendChild(el('span', { 'aria-hidden': 'true', text: ' \u2026' }));
        b.setAttribute('aria-describedby', eid);
        item.appendChild(excerpt);
      }
      list.appendChild(item);
    });
    li.appendChild(list);
  }

  function dirOf(lang) { return /^(ar|fa|he|ur)$/.test(lang || '') ? 'rtl' : 'ltr'; }

  function renderHandoff(handoff, li) {
    li.appendChild(el('p', { text: handoff.message }));
    (handoff.also || []).forEach(function (a) { li.appendChild(el('p', { class: 'g-also', lang: a.lang, dir: dirOf(a.lang), text: a.message })); });
    var c = handoff.contacts || {};
    // The card's labels are in the interface's language: its direction, not the reply's.
    var card = el('div', { class: 'g-contacts', dir: 'ltr' });
    card.appendChild(el('p', { class: 'g-service' }, [el('strong', { text: c.name || '' })]));
    var rows = el('ul', { class: 'g-contact-list' });
    function row(label, value) {
      rows.appendChild(el('li', null, [el('span', { class: 'g-k', lang: ui, text: label }), ' ', value]));
    }
    var tel = c.phone && telHref(c.phone);
    if (c.phone) row(T.phone, tel ? el('a', { href: tel, text: c.phone }) : c.phone);
    if (c.email) row(T.email, el('a', { href: 'mailto:' + c.email, text: c.email }));
    if (c.address) row(T.address, c.address);
    var web = c.web && safeUrl(c.web);
    if (web) row(T.web, el('a', { href: web, text: c.web.replace(/^https?:\/\//, '') }));
    card.appendChild(rows);
    if (typeof c.open_now === 'boolean' && messages) {
      card.appendChild(el('p', { class: 'g-open ' + (c.open_now ? 'g-open-yes' : 'g-open-no'), lang: messages.lang }, [
        el('span', { class: 'g-dot', 'aria-hidden': 'true' }),
        validated(c.open_now ? 'open_now' : 'closed_now')
      ]));
    }
    if (c.hours) {
      var table = el('table', { class: 'g-hours', lang: ui }, [
        el('caption', { text: T.hours }),
        el('thead', null, [el('tr', null, [el('th', { scope: 'col', text: T.day }), el('th', { scope: 'col', text: T.open_hours })])])
      ]);
      var tbody = el('tbody');
      DAYS.forEach(function (d) {
        var ranges = c.hours[d] || [];
        tbody.appendChild(el('tr', null, [
          el('th', { scope: 'row', text: T.days[d] }),
          el('td', { text: ranges.length ? ranges.map(function (r) { return r.replace('-', '\u2013'); }).join(T.and) : T.dayClosed })
        ]));
      });
      table.appendChild(tbody);
      card.appendChild(table);
    }
    li.appendChild(card);
  }

  function formatDate(iso) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso);
    if (!m || !window.Intl) return iso;
    var d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
    return new Intl.DateTimeFormat(ui === 'en' ? 'en-GB' : 'fr-FR', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' }).format(d);
  }

  // ---- asking -----------------------------------------------------------------------------

  function append(turn, store) {
    if (store) { state.turns.push(turn); save(); }
    var li = renderTurn(turn);
    turnsList.appendChild(li);
    if (turn.who === 'me') log.scrollTop = log.scrollHeight;
    else reveal(li);
  }

  // A reply is read from its start: scroll it to the top of whatever scrolls (the log, or
  // the whole panel on short screens), never the city's page.
  function reveal(li) {
    var box = log.scrollHeight > log.clientHeight + 1 ? log : panel;
    box.scrollTop += li.getBoundingClientRect().top - box.getBoundingClientRect().top - 8;
  }

  // `choice`: the entry id of a "did you mean" option the person picked (its question is
  // `text`): the server serves that entry and knows the clarification was resolved.
  function ask(text, choice) {
    text = String(text).trim();
    if (!text || busy) return;
    if (text.length > 1000) { showNotice(T.tooLong); return; }
    showNotice('');
    busy = true;
    append({ who: 'me', text: text }, true);
    pending.hidden = false;
    log.setAttribute('aria-busy', 'true');
    var body = { message: text, session_id: state.sid };
    if (choice) body.choice = choice;
    if (askLang) body.lang = askLang;
    ensureMessages().catch(function () { return null; }).then(function () {
      return fetch(endpoint('v1/chat'), {
        method: 'POST', credentials: 'omit',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body)
      });
    }).then(function (r) {
      if (r.ok) return r.json().then(function (reply) { return { reply: reply }; });
      return { error: r.status === 503 ? 'error_busy' : 'error_generic' };
    }, function () {
      return { error: 'error_generic' };
    }).then(function (result) {
      pending.hidden = true;
      log.removeAttribute('aria-busy');
      busy = false;
      if (result.reply && result.reply.outcome) {
        append({ who: 'bot', reply: result.reply }, true);
        if (result.reply.ticket) setTicket(result.reply.ticket);
        // The ticket we knew of is gone (an agent closed it): the poll tells the person.
        else if (state.ticket) poll();
      } else append({ who: 'error', text: validated(result.error || 'error_generic') }, false);
    });
  }

  // ---- a request for a person: its state, the agents' messages, cancelling ----------------

  var pollTimer = null;

  function setTicket(t) {
    state.ticket = { status: t.status, agent: t.agent, notice: t.notice, lang: t.lang, attended: t.attended };
    save();
    renderTicket();
    schedulePoll(POLL_VISIBLE);
  }

  function renderTicket() {
    var t = state && state.ticket;
    ticketBox.hidden = !t;
    humanButton.hidden = !!t;
    if (!t) return;
    ticketNotice.textContent = t.notice || '';
    if (t.lang) { ticketNotice.setAttribute('lang', t.lang); ticketNotice.setAttribute('dir', dirOf(t.lang)); }
    ticketAgent.textContent = t.agent ? t.agent + T.taken : '';
    ticketAgent.hidden = !t.agent;
  }

  function schedulePoll(ms) {
    if (pollTimer) window.clearTimeout(pollTimer);
    pollTimer = window.setTimeout(poll, ms);
  }

  function ticketClosed(key) {
    if (pollTimer) { window.clearTimeout(pollTimer); pollTimer = null; }
    if (!state.ticket) return;
    state.ticket = null;
    save();
    renderTicket();
    append({ who: 'notice', key: key }, true);
  }

  function poll() {
    if (pollTimer) { window.clearTimeout(pollTimer); pollTimer = null; }
    if (!state || !state.ticket) return;
    var after = state.agentAfter || 0;
    fetch(endpoint('v1/chat/' + state.sid + '/messages?after=' + after + '&lang=' + ui), { credentials: 'omit' })
      .then(function (r) { if (!r.ok) throw new Error('messages ' + r.status); return r.json(); })
      .then(function (data) {
        if (!state.ticket) return;
        (data.messages || []).forEach(function (m) {
          if (typeof m.id !== 'number' || m.id <= (state.agentAfter || 0)) return;
          state.agentAfter = m.id;
          append({ who: 'agent', agent: m.agent, text: m.text, entry: m.entry && typeof m.entry.id === 'string' ? m.entry.id : undefined }, true);
          if (!isOpen()) unread.hidden = false;
        });
        if (data.ticket) {
          setTicket(data.ticket);
          schedulePoll(document.hidden ? POLL_HIDDEN : POLL_VISIBLE);
        } else {
          ticketClosed('ticket_resolved');
        }
      }, function () { schedulePoll(POLL_RETRY); });
  }

  function cancelTicket() {
    if (!state || !state.ticket) return;
    cancelButton.disabled = true;
    fetch(endpoint('v1/chat/' + state.sid + '/cancel?lang=' + ui), { method: 'POST', credentials: 'omit' })
      .then(function (r) { if (!r.ok) throw new Error('cancel ' + r.status); return r.json(); })
      .then(function (data) {
        cancelButton.disabled = false;
        // Closed by an agent meanwhile: the poll shows their last words and says so.
        if (data.cancelled) ticketClosed('ticket_cancelled'); else poll();
        input.focus();
      }, function () {
        cancelButton.disabled = false;
        showNotice(validated('error_generic'));
      });
  }

  // ---- events -------------------------------------------------------------------------------

  launcher.addEventListener('click', function () { if (isOpen()) close(); else open(true); });
  closeButton.addEventListener('click', close);
  panel.addEventListener('keydown', function (e) {
    if (e.key === 'Escape' || e.key === 'Esc') { e.preventDefault(); close(); }
  });
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var text = input.value;
    if (!text.trim() || busy) return;
    input.value = '';
    ask(text);
  });
  humanButton.addEventListener('click', function () { ask(T.humanMessage); });
  cancelButton.addEventListener('click', cancelTicket);
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden && state && state.ticket) poll();
  });

  // ---- start: restore a conversation from this tab, without announcing it again -------------

  function start() {
    if (state) {
      var restore = function () {
        state.turns.forEach(function (t) { turnsList.appendChild(renderTurn(t)); });
      };
      ensureMessages().then(restore, restore).then(function () {
        document.body.appendChild(host);
        renderTicket();
        if (state.open) open(false);
        log.scrollTop = log.scrollHeight;
        // A request for a person survives a page change: its messages keep coming.
        if (state.ticket) poll();
      });
    } else {
      document.body.appendChild(host);
    }
  }
  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start);
})();
