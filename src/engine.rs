//! The one door into the core: a question in, a [`Reply`] out. Builds the indexes from a
//! corpus once; afterwards everything is read-only and shared by all threads.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::corpus::{Corpus, Entry, Service};
use crate::embedder::{EmbedError, Embedder, Embedding, TextKind, embed_passages_cached};
use crate::index::{IndexError, IndexParams, VectorIndex};
use crate::lexical::Bm25;
use crate::policy::{Candidate, Decision, Policy};
use crate::reply::{
    EasyRead, EntryReply, HandoffReason, HandoffReply, OptionReply, Outcome, Reply,
};
use crate::text::fold;

/// Longest message accepted, in characters.
pub const MAX_MESSAGE_CHARS: usize = 1000;
/// How many nearest texts the vector index returns per question.
const DENSE_K: usize = 40;
/// How many entries the lexical ranking contributes.
const LEXICAL_K: usize = 20;
/// Reciprocal rank fusion constant (the usual 60).
const RRF_K: f32 = 60.0;
/// Weight of the answer text in lexical matching, next to questions and alternates.
const ANSWER_WEIGHT: f32 = 0.3;
/// How many candidates a trace keeps.
const TRACE_LEN: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Index(#[from] IndexError),
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
        if t.is_empty() {
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

#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Where passage embeddings are cached (none: always embed).
    pub cache_dir: Option<PathBuf>,
    pub index: IndexParams,
    pub policy: Policy,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            cache_dir: None,
            index: IndexParams::default(),
            policy: Policy::default(),
        }
    }
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
    pub dense: f32,
    pub lexical: f32,
    pub fused: f32,
}

/// Why the engine replied as it did: never shown to people, kept for agents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    /// P(the leading candidate is right), from the calibrated policy.
    pub confidence: f32,
    /// Dense score of the leader minus the next entry's.
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
    vectors: VectorIndex,
    /// Entry index of each point of `vectors`.
    owners: Vec<usize>,
    /// Point indexes of each entry.
    points_of: Vec<Vec<usize>>,
    questions: Bm25,
    answers: Bm25,
    policy: Policy,
    /// Folded phrases by which people ask for a person.
    human_phrases: Vec<String>,
    /// The language most entries are written in (for stemming).
    lang: String,
}

/// The texts an entry is found by: its question, alternates and translated questions.
fn match_texts(entry: &Entry) -> impl Iterator<Item = &str> {
    std::iter::once(entry.question.as_str())
        .chain(entry.alternates.iter().map(String::as_str))
        .chain(entry.translations.values().map(|t| t.question.as_str()))
}

impl Engine {
    /// Embeds and indexes every matchable text of the corpus (from the cache when it can).
    #[tracing::instrument(skip_all, fields(entries = corpus.entries().len()))]
    pub fn build(
        corpus: Corpus,
        embedder: Arc<dyn Embedder>,
        options: EngineOptions,
    ) -> Result<Self, EngineError> {
        let mut texts = Vec::new();
        let mut owners = Vec::new();
        let mut points_of = vec![Vec::new(); corpus.entries().len()];
        for (i, entry) in corpus.entries().iter().enumerate() {
            for t in match_texts(entry) {
                points_of[i].push(texts.len());
                texts.push(t.to_string());
                owners.push(i);
            }
        }
        let started = std::time::Instant::now();
        let (embeddings, computed) =
            embed_passages_cached(embedder.as_ref(), &texts, options.cache_dir.as_deref())?;
        tracing::info!(
            texts = texts.len(),
            computed,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "corpus embedded"
        );
        let vectors = VectorIndex::build(embeddings, options.index)?;
        let lang = majority_lang(&corpus);
        let questions = Bm25::build(&lang, owners.iter().copied().zip(texts.iter().cloned()));
        let answers = Bm25::build(
            &lang,
            corpus
                .entries()
                .iter()
                .enumerate()
                .map(|(i, e)| (i, e.answer.clone())),
        );
        let human_phrases = corpus
            .messages()
            .all_human_phrases()
            .map(fold)
            .filter(|p| !p.is_empty())
            .collect();
        Ok(Self {
            corpus,
            embedder,
            vectors,
            owners,
            points_of,
            questions,
            answers,
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

    /// Candidates for a question, best first (fused ranking of dense and lexical).
    pub fn retrieve(&self, question: &str) -> Result<Vec<Candidate>, EngineError> {
        let query = self.embedder.embed(question, TextKind::Query)?;
        Ok(self.retrieve_embedded(question, &query))
    }

    fn retrieve_embedded(&self, question: &str, query: &Embedding) -> Vec<Candidate> {
        let mut dense: HashMap<usize, f32> = HashMap::new();
        for hit in self.vectors.search(query, DENSE_K) {
            let e = self.owners[hit.point];
            let best = dense.entry(e).or_insert(f32::MIN);
            *best = best.max(hit.similarity);
        }
        let (q_scores, q_ceiling) = self.questions.search(question);
        let (a_scores, a_ceiling) = self.answers.search(question);
        let ceiling = q_ceiling + ANSWER_WEIGHT * a_ceiling;
        let mut lexical: Vec<(usize, f32)> = q_scores
            .keys()
            .chain(a_scores.keys())
            .map(|&e| {
                let s = q_scores.get(&e).copied().unwrap_or(0.0)
                    + ANSWER_WEIGHT * a_scores.get(&e).copied().unwrap_or(0.0);
                (e, if ceiling > 0.0 { s / ceiling } else { 0.0 })
            })
            .collect();
        lexical.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        lexical.dedup_by_key(|x| x.0);
        lexical.truncate(LEXICAL_K);
        // Entries found only lexically get their exact dense score too.
        for &(e, _) in &lexical {
            dense.entry(e).or_insert_with(|| {
                self.points_of[e]
                    .iter()
                    .map(|&p| query.dot(self.vectors.point(p)))
                    .fold(f32::MIN, f32::max)
            });
        }
        let lex_of: HashMap<usize, f32> = lexical.iter().copied().collect();
        let mut by_dense: Vec<(usize, f32)> = dense.into_iter().collect();
        by_dense.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let lex_rank: HashMap<usize, usize> = lexical
            .iter()
            .filter(|(_, s)| *s > 0.0)
            .enumerate()
            .map(|(r, (e, _))| (*e, r))
            .collect();
        let mut out: Vec<Candidate> = by_dense
            .iter()
            .enumerate()
            .map(|(rank, &(entry, d))| {
                let mut fused = 1.0 / (RRF_K + rank as f32 + 1.0);
                if let Some(r) = lex_rank.get(&entry) {
                    fused += 1.0 / (RRF_K + *r as f32 + 1.0);
                }
                Candidate {
                    entry,
                    dense: d,
                    lexical: lex_of.get(&entry).copied().unwrap_or(0.0),
                    fused,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            b.fused
                .total_cmp(&a.fused)
                .then(b.dense.total_cmp(&a.dense))
                .then(a.entry.cmp(&b.entry))
        });
        out
    }

    fn asks_for_a_person(&self, question: &str) -> bool {
        let folded = format!(" {} ", fold(question));
        self.human_phrases
            .iter()
            .any(|p| folded.contains(&format!(" {p} ")))
    }

    /// Answers `question` verbatim from the corpus, clarifies, or hands off.
    #[tracing::instrument(skip_all, fields(chars = question.chars().count()))]
    pub fn ask(&self, question: &str, ctx: &AskContext) -> Result<Asked, EngineError> {
        let asked_lang = ctx
            .lang
            .clone()
            .unwrap_or_else(|| detect_lang(question, &self.lang));
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
        let expanded = self.corpus.glossary().expand(question);
        let candidates = self.retrieve(&expanded)?;
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
        let confidence = match decision {
            Decision::Answer { confidence, .. }
            | Decision::Clarify { confidence, .. }
            | Decision::HandOff { confidence } => *confidence,
        };
        let margin = crate::policy::features(candidates).map_or(0.0, |f| f[1]);
        let candidates = candidates
            .iter()
            .take(TRACE_LEN)
            .map(|c| {
                let e = self.corpus.entry(c.entry);
                ScoredEntry {
                    id: e.id.to_string(),
                    service: e.service.clone(),
                    dense: c.dense,
                    lexical: c.lexical,
                    fused: c.fused,
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
    pub fn entry_reply(&self, index: usize, lang: &str) -> (EntryReply, String) {
        let e = self.corpus.entry(index);
        let (question, answer, sha, served_lang) =
            match e.translations.get(lang).filter(|_| lang != e.lang) {
                Some(t) => (&t.question, &t.answer, &t.sha256, lang),
                None => (&e.question, &e.answer, &e.answer_sha256, e.lang.as_str()),
            };
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
        };
        (reply, served_lang.to_string())
    }

    fn answer(&self, index: usize, lang: &str) -> Reply {
        let (entry, served_lang) = self.entry_reply(index, lang);
        Reply {
            outcome: Outcome::Answer,
            entry: Some(entry),
            message: None,
            options: None,
            handoff: None,
            lang: served_lang,
            corpus_version: self.corpus.version().to_string(),
        }
    }

    fn clarify(&self, entries: &[usize], lang: &str) -> Reply {
        let (msg_lang, messages) = self.corpus.messages().get(lang);
        let options = entries
            .iter()
            .map(|&i| {
                let e = self.corpus.entry(i);
                let question = e
                    .translations
                    .get(msg_lang)
                    .filter(|_| msg_lang != e.lang)
                    .map_or(&e.question, |t| &t.question);
                OptionReply {
                    id: e.id.to_string(),
                    question: question.clone(),
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
        let (msg_lang, messages) = self.corpus.messages().get(lang);
        let message = match reason {
            HandoffReason::LowConfidence => &messages.handoff_low_confidence,
            HandoffReason::Requested => &messages.handoff_requested,
            HandoffReason::Empty => &messages.handoff_empty,
            HandoffReason::TicketOpen => &messages.handoff_ticket_open,
        };
        Reply {
            outcome: Outcome::Handoff,
            entry: None,
            message: None,
            options: None,
            handoff: Some(HandoffReply {
                reason,
                message: message.clone(),
                contacts: service.contacts(msg_lang, ctx.now),
            }),
            lang: msg_lang.to_string(),
            corpus_version: self.corpus.version().to_string(),
        }
    }
}

fn majority_lang(corpus: &Corpus) -> String {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for e in corpus.entries() {
        *counts.entry(e.lang.as_str()).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(l, n)| (*n, *l == "fr"))
        .map_or_else(|| "fr".to_string(), |(l, _)| l.to_string())
}

/// The language of a question, when the text says so clearly; else the corpus language.
/// Short questions are ambiguous, so detection must be reliable to override the default.
pub fn detect_lang(text: &str, default: &str) -> String {
    if text.split_whitespace().count() < 3 {
        return default.to_string();
    }
    match whatlang::detect(text) {
        Some(info) if info.is_reliable() => match info.lang().code() {
            "fra" => "fr",
            "eng" => "en",
            "deu" => "de",
            "spa" => "es",
            "ita" => "it",
            "por" => "pt",
            "ara" => "ar",
            "tur" => "tr",
            "ukr" => "uk",
            "rus" => "ru",
            "nld" => "nl",
            "pol" => "pl",
            "ron" => "ro",
            _ => default,
        }
        .to_string(),
        _ => default.to_string(),
    }
}
