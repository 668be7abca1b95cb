//! The one door into the core: a question in, a [`Reply`] out. Builds the indexes from a
//! corpus once; afterwards everything is read-only and shared by all threads.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::corpus::{Corpus, Service};
use crate::embedder::{EmbedError, Embedder, Embedding, TextKind};
use crate::index::{IndexError, IndexParams};
use crate::policy::{Candidate, Decision, Policy, rank};
use crate::privacy::Redacted;
use crate::reply::{
    AlsoSaid, EasyRead, EntryReply, HandoffReason, HandoffReply, OptionReply, Outcome, Reply,
};
use crate::retrieval::{RetrievalError, Retriever, Signals, majority_lang};
use crate::text::fold;

/// Longest opening of an answer shown under a lone "did you mean" option, in characters.
const EXCERPT_CHARS: usize = 160;

/// The opening of a validated answer: its first paragraph (or first line), or when that
/// is longer than [`EXCERPT_CHARS`], its last whole sentence, else its last whole word,
/// within them, never inside a Markdown link. A slice of `answer`, never rewritten.
fn excerpt(answer: &str) -> &str {
    let first = answer.trim_start();
    let start = answer.len() - first.len();
    let para_end = first
        .find("\n\n")
        .or_else(|| first.find('\n'))
        .unwrap_or(first.len());
    let para = &first[..para_end];
    if para.chars().count() <= EXCERPT_CHARS {
        return &answer[start..start + para.trim_end().len()];
    }
    let (mut in_link, mut prev) = (false, ' ');
    let (mut word, mut sentence) = (None, None);
    for (i, c) in para.char_indices().take(EXCERPT_CHARS + 1) {
        match c {
            '[' => in_link = true,
            ')' if in_link => in_link = false,
            c if c.is_whitespace() && !in_link => {
                word = Some(i);
                if matches!(prev, '.' | '!' | '?' | ';' | ':') {
                    sentence = Some(i);
                }
            }
            _ => {}
        }
        prev = c;
    }
    let cut = sentence
        .filter(|&i| i >= EXCERPT_CHARS / 3)
        .or(word)
        .unwrap_or_else(|| {
            para.char_indices()
                .nth(EXCERPT_CHARS)
                .map_or(para.len(), |(i, _)| i)
        });
    &answer[start..start + para[..cut].trim_end().len()]
}

/// Longest message accepted, in characters.
pub const MAX_MESSAGE_CHARS: usize = 1000;
/// How many candidates a trace keeps.
const TRACE_LEN: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Index(#[from] IndexError),
}

impl From<RetrievalError> for EngineError {
    fn from(e: RetrievalError) -> Self {
        match e {
            RetrievalError::Embed(e) => Self::Embed(e),
            RetrievalError::Index(e) => Self::Index(e),
        }
    }
}

/// A message as the engine accepts it: non-empty, at most [`MAX_MESSAGE_CHARS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuestionError {
    #[error("the message is empty")]
    Empty,
    #[error("the message is longer than {MAX_MESSAGE_CHARS} characters")]
    TooLong,
}

impl Question {
    pub fn parse(raw: &str) -> Result<Self, QuestionError> {
        let t = raw.trim();
        if crate::text::is_blank(t) {
            Err(QuestionError::Empty)
        } else if t.chars().count() > MAX_MESSAGE_CHARS {
            Err(QuestionError::TooLong)
        } else {
            Ok(Self(t.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Where passage embeddings are cached (none: always embed).
    pub cache_dir: Option<PathBuf>,
    pub index: IndexParams,
    pub policy: Policy,
}

/// Per-question context.
#[derive(Debug, Clone)]
pub struct AskContext {
    /// The language the person asked for; detected from the text when absent.
    pub lang: Option<String>,
    pub now: DateTime<Utc>,
}

impl AskContext {
    pub fn now() -> Self {
        Self {
            lang: None,
            now: Utc::now(),
        }
    }
}

/// One candidate as recorded for agents, evaluation and the store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoredEntry {
    pub id: String,
    pub service: String,
    #[serde(flatten)]
    pub signals: Signals,
    pub score: f32,
}

/// Why the engine replied as it did: never shown to people, kept for agents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    /// P(the leading candidate is right), from the calibrated policy.
    pub confidence: f32,
    /// Score of the leader minus the next entry's.
    pub margin: f32,
    pub candidates: Vec<ScoredEntry>,
    /// The language detected or asked for.
    pub asked_lang: String,
}

#[derive(Debug, Clone)]
pub struct Asked {
    pub reply: Reply,
    pub trace: Trace,
}

pub struct Engine {
    corpus: Corpus,
    embedder: Arc<dyn Embedder>,
    retriever: Retriever,
    policy: Policy,
    /// Folded phrases by which people ask for a person.
    human_phrases: Vec<String>,
    /// The language most entries are written in.
    lang: String,
}

impl Engine {
    /// Embeds and indexes every matchable text of the corpus (from the cache when it can).
    #[tracing::instrument(skip_all, fields(entries = corpus.entries().len()))]
    pub fn build(
        corpus: Corpus,
        embedder: Arc<dyn Embedder>,
        options: EngineOptions,
    ) -> Result<Self, EngineError> {
        let retriever = Retriever::build(
            &corpus,
            embedder.as_ref(),
            options.cache_dir.as_deref(),
            options.index,
        )?;
        let human_phrases = corpus
            .messages()
            .all_human_phrases()
            .map(fold)
            .filter(|p| !p.is_empty())
            .collect();
        let lang = majority_lang(&corpus);
        Ok(Self {
            corpus,
            embedder,
            retriever,
            policy: options.policy,
            human_phrases,
            lang,
        })
    }

    pub fn corpus(&self) -> &Corpus {
        &self.corpus
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// The same engine with another policy (indexes are shared, nothing is rebuilt).
    pub fn with_policy(self, policy: Policy) -> Self {
        Self { policy, ..self }
    }

    /// Candidates for a question, ranked by the policy's weights, best first.
    pub fn retrieve(&self, question: &str) -> Result<Vec<Candidate>, EngineError> {
        Ok(rank(self.signals(question)?, self.policy.weights()))
    }

    /// Unranked candidates with their signals (for calibration, which tries other weights).
    /// The question is matched with the glossary's expansions appended, as the stored
    /// phrasings are (for matching only: nothing expanded is ever shown).
    pub fn signals(&self, question: &str) -> Result<Vec<(usize, Signals)>, EngineError> {
        let expanded = self.corpus.glossary().expand(question);
        let started = std::time::Instant::now();
        let query = self.embedder.embed(&expanded, TextKind::Query)?;
        crate::telemetry::embedded(started.elapsed());
        Ok(self.candidates_for(&expanded, &query))
    }

    /// Unranked candidates for a question already embedded (retrieval without the model).
    pub fn candidates_for(&self, question: &str, query: &Embedding) -> Vec<(usize, Signals)> {
        self.retriever.candidates(question, query)
    }

    /// Entries found by the words of `text` in their question, alternates or answer, best
    /// first (no model involved: the knowledge base's word search).
    pub fn word_search(&self, text: &str) -> Vec<(usize, f32)> {
        self.retriever.word_search(text)
    }

    /// The query vectors of the corpus's phrasings (gap mining centres questions on them).
    pub fn phrasing_vectors(&self) -> impl Iterator<Item = &Embedding> {
        self.retriever.phrasing_vectors()
    }

    /// Whether the question asks for a person (`messages.toml` `human_phrases`).
    pub fn asks_for_a_person(&self, question: &str) -> bool {
        let folded = format!(" {} ", fold(question));
        self.human_phrases
            .iter()
            .any(|p| folded.contains(&format!(" {p} ")))
    }

    /// Answers `question` verbatim from the corpus, clarifies, or hands off. The question
    /// comes redacted (personal data never helps find an answer), so every channel gets
    /// the same reply, and a caller that stores the question redacts it once.
    #[tracing::instrument(skip_all, fields(chars = question.as_str().chars().count()))]
    pub fn ask(&self, question: &Redacted, ctx: &AskContext) -> Result<Asked, EngineError> {
        let question = question.as_str();
        let asked_lang = ctx
            .lang
            .clone()
            .unwrap_or_else(|| crate::text::detect_lang(question, &self.lang));
        if !fold(question).chars().any(char::is_alphanumeric) {
            let trace = Trace {
                confidence: 0.0,
                margin: 0.0,
                candidates: Vec::new(),
                asked_lang: asked_lang.clone(),
            };
            let service = self.corpus.services().default_service();
            return Ok(Asked {
                reply: self.handoff(HandoffReason::Empty, service, &asked_lang, ctx),
                trace,
            });
        }
        let candidates = self.retrieve(question)?;
        let decision = self.policy.decide(&candidates);
        let trace = self.trace(&candidates, &decision, &asked_lang);
        let reply = if self.asks_for_a_person(question) {
            let service = match decision {
                Decision::HandOff { .. } => self.likely_service(&candidates),
                _ => self
                    .corpus
                    .services()
                    .get_or_default(&self.corpus.entry(candidates[0].entry).service),
            };
            self.handoff(HandoffReason::Requested, service, &asked_lang, ctx)
        } else {
            match decision {
                Decision::Answer { entry, .. } => self.answer(entry, &asked_lang),
                Decision::Clarify { entries, .. } => self.clarify(&entries, &asked_lang),
                Decision::HandOff { .. } => self.handoff(
                    HandoffReason::LowConfidence,
                    self.likely_service(&candidates),
                    &asked_lang,
                    ctx,
                ),
            }
        };
        tracing::debug!(outcome = ?reply.outcome, confidence = trace.confidence, "decided");
        Ok(Asked { reply, trace })
    }

    /// The service to hand off to: the one the leading candidates agree on, else the default.
    fn likely_service(&self, candidates: &[Candidate]) -> &Service {
        let services = self.corpus.services();
        let mut top = candidates
            .iter()
            .take(3)
            .map(|c| &self.corpus.entry(c.entry).service);
        match top.next() {
            Some(first) if top.all(|s| s == first) => services.get_or_default(first),
            _ => services.default_service(),
        }
    }

    fn trace(&self, candidates: &[Candidate], decision: &Decision, asked_lang: &str) -> Trace {
        let confidence = decision.confidence();
        let margin = crate::policy::features(candidates).map_or(0.0, |f| f[1]);
        let candidates = candidates
            .iter()
            .take(TRACE_LEN)
            .map(|c| {
                let e = self.corpus.entry(c.entry);
                ScoredEntry {
                    id: e.id.to_string(),
                    service: e.service.clone(),
                    signals: c.signals,
                    score: c.score,
                }
            })
            .collect();
        Trace {
            confidence,
            margin,
            candidates,
            asked_lang: asked_lang.to_string(),
        }
    }

    /// The entry's validated text in `lang` when it has one, else in its own language.
    /// A variant out of date (validated against an older answer) is never served: the
    /// entry's own answer is, and `stale_variants` says which variant was held back.
    pub fn entry_reply(&self, index: usize, lang: &str) -> (EntryReply, String) {
        let e = self.corpus.entry(index);
        let (question, answer, sha, served_lang) =
            match e.translations.get(lang).filter(|_| lang != e.lang) {
                Some(t) => (&t.question, &t.answer, &t.sha256, lang),
                None => (&e.question, &e.answer, &e.answer_sha256, e.lang.as_str()),
            };
        let mut stale_variants = Vec::new();
        if lang != e.lang && e.stale.iter().any(|s| s == lang) {
            stale_variants.push(lang.to_string());
        }
        if served_lang == e.lang && e.stale.iter().any(|s| s == "easy_read") {
            stale_variants.push("easy_read".to_string());
        }
        let easy_read = (served_lang == e.lang)
            .then_some(())
            .and(e.easy_read.as_ref())
            .map(|v| EasyRead {
                answer: v.answer.clone(),
                sha256: v.sha256.clone(),
            });
        let reply = EntryReply {
            id: e.id.to_string(),
            question: question.clone(),
            answer: answer.clone(),
            answer_sha256: sha.clone(),
            service: e.service.clone(),
            validated_on: e.validated_on.map(|d| d.format("%Y-%m-%d").to_string()),
            url: e.url.clone(),
            easy_read,
            stale_variants,
        };
        (reply, served_lang.to_string())
    }

    /// The answer of entry `index` for someone asking in `lang`. When the translation in
    /// their language was held back (out of date), the validated French answer is served
    /// and `message` says so, in their language.
    pub fn answer(&self, index: usize, lang: &str) -> Reply {
        let (entry, served_lang) = self.entry_reply(index, lang);
        let message = entry
            .stale_variants
            .iter()
            .any(|v| v == lang)
            .then(|| self.corpus.messages().get(lang).1.variant_stale.clone());
        Reply {
            outcome: Outcome::Answer,
            entry: Some(entry),
            message,
            options: None,
            handoff: None,
            lang: served_lang,
            corpus_version: self.corpus.version().to_string(),
        }
    }

    fn clarify(&self, entries: &[usize], lang: &str) -> Reply {
        let (msg_lang, messages) = self.corpus.messages().get(lang);
        let alone = entries.len() == 1;
        let options = entries
            .iter()
            .map(|&i| {
                let e = self.corpus.entry(i);
                let question = e
                    .translations
                    .get(msg_lang)
                    .filter(|_| msg_lang != e.lang)
                    .map_or(&e.question, |t| &t.question);
                // The opening of the text that a tap would serve, in the same language.
                let excerpt = alone.then(|| {
                    let (entry, _) = self.entry_reply(i, msg_lang);
                    excerpt(&entry.answer).to_string()
                });
                OptionReply {
                    id: e.id.to_string(),
                    question: question.clone(),
                    excerpt,
                }
            })
            .collect();
        Reply {
            outcome: Outcome::Clarify,
            entry: None,
            message: Some(messages.clarify.clone()),
            options: Some(options),
            handoff: None,
            lang: msg_lang.to_string(),
            corpus_version: self.corpus.version().to_string(),
        }
    }

    /// A hand-off reply to `service`, in `lang` when the messages speak it.
    pub fn handoff(
        &self,
        reason: HandoffReason,
        service: &Service,
        lang: &str,
        ctx: &AskContext,
    ) -> Reply {
        let ((msg_lang, messages), second) = self.corpus.messages().for_lang(lang);
        let contacts = service.contacts(msg_lang, ctx.now);
        let open = contacts.open_now;
        // Chosen through a closure so the other language's sentence is the same one.
        let sentence = |messages: &crate::corpus::MessageSet| -> String {
            let message = match reason {
                HandoffReason::LowConfidence => &messages.handoff_low_confidence,
                HandoffReason::Requested => &messages.handoff_requested,
                HandoffReason::Empty => &messages.handoff_empty,
                // Nobody answers a closed service's tickets: no reply "here" is promised.
                HandoffReason::TicketOpen if !open => &messages.handoff_ticket_unattended,
                HandoffReason::TicketOpen => &messages.handoff_ticket_open,
            };
            message.clone()
        };
        let also = second
            .into_iter()
            .map(|(l, m)| AlsoSaid {
                lang: l.to_string(),
                message: sentence(m),
            })
            .collect();
        Reply {
            outcome: Outcome::Handoff,
            entry: None,
            message: None,
            options: None,
            handoff: Some(HandoffReply {
                reason,
                message: sentence(messages),
                also,
                contacts,
            }),
            lang: msg_lang.to_string(),
            corpus_version: self.corpus.version().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_the_first_paragraph_cut_at_a_word_and_a_prefix_of_the_answer() {
        let short = "La collecte a lieu le mardi.\n\nLes encombrants : sur rendez-vous.";
        assert_eq!(excerpt(short), "La collecte a lieu le mardi.");
        let long = format!("{} fin.\n\nSuite.", "mot ".repeat(60));
        let e = excerpt(&long);
        assert!(long.starts_with(e));
        assert!(e.chars().count() <= EXCERPT_CHARS);
        assert!(e.ends_with("mot"), "cut at a whole word: {e:?}");
        assert_eq!(excerpt("  Une ligne\nune autre"), "Une ligne");
        let one_word = "x".repeat(400);
        assert!(one_word.starts_with(excerpt(&one_word)));
        // Never inside a link; a whole sentence when there is one.
        let linked = format!(
            "Belleval est découpée en trois secteurs de collecte des déchets. {} voir [la page](https://b.example/s) fin.",
            "mot ".repeat(30)
        );
        assert_eq!(
            excerpt(&linked),
            "Belleval est découpée en trois secteurs de collecte des déchets."
        );
        let no_sentence = format!(
            "{}[la page des secteurs](https://b.example/s) fin.",
            "mot ".repeat(36)
        );
        let e = excerpt(&no_sentence);
        assert!(no_sentence.starts_with(e) && !e.contains('['), "{e:?}");
    }
}
