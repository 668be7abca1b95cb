//! The services a hand-off leads to: who to call, where to go, and when they are open.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Datelike, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::problem::{Msg, Problem, line_of, msg, toml_problem};

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Opening hours per weekday (Monday first), in the service's time zone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WeeklyHours([Vec<(NaiveTime, NaiveTime)>; 7]);

impl WeeklyHours {
    fn parse(raw: &BTreeMap<String, Vec<String>>) -> Result<Self, Msg> {
        let mut hours: [Vec<(NaiveTime, NaiveTime)>; 7] = Default::default();
        for key in raw.keys() {
            if !DAYS.contains(&key.as_str()) {
                let days = DAYS.join(", ");
                return Err(msg!(
                    "jour inconnu {key:?} dans hours (attendu : {days})",
                    "unknown day {key:?} in hours (expected one of {days})"
                ));
            }
        }
        for (i, day) in DAYS.iter().enumerate() {
            let Some(ranges) = raw.get(*day) else {
                return Err(msg!(
                    "hours.{day} manque (mettre [] les jours de fermeture)",
                    "hours.{day} is missing (use [] when closed)"
                ));
            };
            for range in ranges {
                let parsed = range.split_once('-').and_then(|(a, b)| {
                    let a = NaiveTime::parse_from_str(a.trim(), "%H:%M").ok()?;
                    let b = NaiveTime::parse_from_str(b.trim(), "%H:%M").ok()?;
                    (a < b).then_some((a, b))
                });
                match parsed {
                    Some(r) => hours[i].push(r),
                    None => {
                        return Err(msg!(
                            "hours.{day} : {range:?} n'est pas de la forme \"HH:MM-HH:MM\" avec le début avant la fin",
                            "hours.{day}: {range:?} is not \"HH:MM-HH:MM\" with start before end"
                        ));
                    }
                }
            }
        }
        Ok(Self(hours))
    }

    pub fn is_open(&self, weekday: Weekday, time: NaiveTime) -> bool {
        self.0[weekday.num_days_from_monday() as usize]
            .iter()
            .any(|(a, b)| *a <= time && time < *b)
    }

    /// Hours as people read them: `{"mon": ["08:30-12:00"], ...}`.
    pub fn display(&self) -> BTreeMap<&'static str, Vec<String>> {
        DAYS.iter()
            .enumerate()
            .map(|(i, day)| {
                let ranges = self.0[i]
                    .iter()
                    .map(|(a, b)| format!("{}-{}", a.format("%H:%M"), b.format("%H:%M")))
                    .collect();
                (*day, ranges)
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct Service {
    pub key: String,
    pub name: String,
    pub name_en: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
    pub web: Option<String>,
    pub timezone: Tz,
    pub hours: WeeklyHours,
    /// Names besides `name` that may sign `validated_by` for this service.
    pub validators: Vec<String>,
}

impl Service {
    /// Whether `by` may sign a validation of this service's entries: its own name, or
    /// one of the `validators` services.toml declares for it.
    pub fn may_validate(&self, by: &str) -> bool {
        let by = by.trim();
        self.name == by || self.validators.iter().any(|v| v == by)
    }

    /// Who may sign, as an editor reads it: `"Nom", "Autre"`.
    pub fn signers(&self) -> String {
        std::iter::once(&self.name)
            .chain(&self.validators)
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn is_open_at(&self, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&self.timezone);
        self.hours.is_open(local.weekday(), local.time())
    }

    /// What a hand-off gives the person, as of `now`.
    pub fn contacts(&self, lang: &str, now: DateTime<Utc>) -> Contacts {
        let name = match (lang, &self.name_en) {
            ("en", Some(en)) => en.clone(),
            _ => self.name.clone(),
        };
        Contacts {
            service: self.key.clone(),
            name,
            phone: self.phone.clone(),
            email: self.email.clone(),
            address: self.address.clone(),
            web: self.web.clone(),
            hours: self.hours.display(),
            timezone: self.timezone.name().to_string(),
            open_now: self.is_open_at(now),
        }
    }
}

/// A service's contacts as sent in a hand-off.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Contacts {
    pub service: String,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
    pub web: Option<String>,
    /// Opening ranges per day (`mon`..`sun`), `08:30-12:00`.
    #[schema(value_type = BTreeMap<String, Vec<String>>)]
    pub hours: BTreeMap<&'static str, Vec<String>>,
    pub timezone: String,
    pub open_now: bool,
}

#[derive(Debug, Clone)]
pub struct Services {
    default: String,
    map: BTreeMap<String, Service>,
    fingerprint: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServices {
    default: toml::Spanned<String>,
    services: BTreeMap<String, toml::Spanned<RawService>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: String,
    name_en: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    address: Option<String>,
    web: Option<String>,
    timezone: Option<String>,
    #[serde(default)]
    hours: BTreeMap<String, Vec<String>>,
    /// Who else may sign a validation for this service (a person's role, a team).
    #[serde(default)]
    validators: Vec<String>,
}

impl Services {
    pub fn parse(path: &Path, text: &str) -> Result<Self, Vec<Problem>> {
        let raw: RawServices =
            toml::from_str(text).map_err(|e| vec![toml_problem(path, text, 1, &e)])?;
        let mut problems = Vec::new();
        let mut map = BTreeMap::new();
        let default_defined = raw.services.contains_key(raw.default.get_ref());
        for (key, spanned) in raw.services {
            let line = Some(line_of(text, spanned.span().start));
            let r = spanned.into_inner();
            let timezone = match r
                .timezone
                .as_deref()
                .unwrap_or("Europe/Paris")
                .parse::<Tz>()
            {
                Ok(tz) => tz,
                Err(_) => {
                    problems.push(Problem::error(
                        path,
                        line,
                        {
                            let tz = r.timezone.as_deref().unwrap_or_default();
                            msg!(
                                "service {key} : fuseau horaire inconnu {tz:?} (par exemple \"Europe/Paris\")",
                                "service {key}: unknown time zone {tz:?}"
                            )
                        },
                    ));
                    continue;
                }
            };
            let hours = match WeeklyHours::parse(&r.hours) {
                Ok(h) => h,
                Err(msg) => {
                    let Msg { fr, en } = msg;
                    problems.push(Problem::error(
                        path,
                        line,
                        msg!("service {key} : {fr}", "service {key}: {en}"),
                    ));
                    continue;
                }
            };
            if r.phone.is_none() && r.email.is_none() && r.address.is_none() {
                problems.push(Problem::error(
                    path,
                    line,
                    msg!(
                        "le service {key} n'a ni téléphone, ni courriel, ni adresse : un passage de relais ne mènerait nulle part",
                        "service {key} has no phone, email nor address: a hand-off would lead nowhere"
                    ),
                ));
            }
            let service = Service {
                key: key.clone(),
                name: r.name,
                name_en: r.name_en,
                phone: r.phone,
                email: r.email,
                address: r.address,
                web: r.web,
                timezone,
                hours,
                validators: r.validators,
            };
            map.insert(key, service);
        }
        if !default_defined {
            problems.push(Problem::error(
                path,
                Some(line_of(text, raw.default.span().start)),
                {
                    let default = raw.default.get_ref();
                    msg!(
                        "le service par défaut {default:?} n'est pas défini dans ce fichier",
                        "default service {default:?} is not defined"
                    )
                },
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let fingerprint = hex::encode(Sha256::digest(text.as_bytes()));
        Ok(Self {
            default: raw.default.into_inner(),
            map,
            fingerprint,
        })
    }

    /// A single, contact-less service for evaluation corpora, which never hand off to anyone real.
    pub(super) fn fallback() -> Self {
        let service = Service {
            key: "default".into(),
            name: "Accueil".into(),
            name_en: None,
            phone: None,
            email: None,
            address: None,
            web: None,
            timezone: chrono_tz::Europe::Paris,
            hours: WeeklyHours::default(),
            validators: Vec::new(),
        };
        Self {
            default: "default".into(),
            map: BTreeMap::from([("default".into(), service)]),
            fingerprint: String::new(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Service> {
        self.map.get(key)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// The service a hand-off goes to when nothing points elsewhere.
    pub fn default_service(&self) -> &Service {
        &self.map[&self.default]
    }

    /// The named service, or the default one.
    pub fn get_or_default(&self, key: &str) -> &Service {
        self.get(key).unwrap_or_else(|| self.default_service())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Service> {
        self.map.values()
    }

    pub(super) fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SAMPLE: &str = r#"
default = "accueil"
[services.accueil]
name = "Accueil"
phone = "01 99 00 00 00"
[services.accueil.hours]
mon = ["08:30-12:00", "13:30-17:00"]
tue = []
wed = []
thu = []
fri = []
sat = ["09:00-12:00"]
sun = []
"#;

    #[test]
    fn a_service_is_open_only_within_its_hours_in_its_own_time_zone() {
        let services = Services::parse(Path::new("services.toml"), SAMPLE).unwrap();
        let s = services.default_service();
        // Monday 2026-11-30, 10:00 in Paris is 09:00 UTC.
        assert!(s.is_open_at(Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap()));
        // 12:30 Paris: lunch break.
        assert!(!s.is_open_at(Utc.with_ymd_and_hms(2026, 11, 30, 11, 30, 0).unwrap()));
        // Sunday.
        assert!(!s.is_open_at(Utc.with_ymd_and_hms(2026, 11, 29, 9, 0, 0).unwrap()));
        // Closing time itself is closed.
        assert!(!s.is_open_at(Utc.with_ymd_and_hms(2026, 11, 30, 16, 0, 0).unwrap()));
    }

    #[test]
    fn a_missing_day_or_bad_range_is_reported_with_its_line() {
        let broken = SAMPLE.replace("sat = [\"09:00-12:00\"]", "sat = [\"12:00-09:00\"]");
        let problems = Services::parse(Path::new("services.toml"), &broken).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, Some(3));
        assert!(
            problems[0].message.contains("hours.sat"),
            "{}",
            problems[0].message
        );
    }
}
