//! An admin changes a service's contacts and hours from the console: the change is made
//! in `services.toml` itself (toml_edit keeps its comments and layout), then the whole
//! file is read again as `guichet check` reads it, so that a wrong time or an empty
//! service is refused with the same French problems as a hand edit.

use std::collections::BTreeMap;
use std::path::Path;

use toml_edit::{Array, DocumentMut, Item, value};

use super::problem::msg;
use super::{Problem, Services};

/// The days of the week as `services.toml` names them, Monday first.
pub const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// What an admin may change of a service. An empty field removes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactsEdit {
    pub phone: String,
    pub email: String,
    pub address: String,
    pub web: String,
    /// Per day (`mon`..`sun`): ranges separated by commas, `08:30-12:00, 13:30-17:30`;
    /// empty: closed.
    pub hours: BTreeMap<String, String>,
}

/// The text of `services.toml` with `key`'s contacts and hours replaced by `edit`,
/// checked; the problems (in French, with the line) when the result would not load.
pub fn edit_contacts(
    path: &Path,
    text: &str,
    key: &str,
    edit: &ContactsEdit,
) -> Result<String, Vec<Problem>> {
    let refuse = |m: super::problem::Msg| vec![Problem::error(path, None, m)];
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        refuse(msg!("fichier illisible : {e}", "unreadable file: {e}"))
    })?;
    let Some(service) = doc
        .get_mut("services")
        .and_then(|s| s.get_mut(key))
        .and_then(Item::as_table_mut)
    else {
        return Err(refuse(msg!(
            "service inconnu : {key}",
            "unknown service: {key}"
        )));
    };
    for (field, new) in [
        ("phone", &edit.phone),
        ("email", &edit.email),
        ("address", &edit.address),
        ("web", &edit.web),
    ] {
        let new = new.trim();
        if new.is_empty() {
            service.remove(field);
        } else {
            service[field] = value(new);
        }
    }
    if !service.contains_key("hours") {
        service["hours"] = toml_edit::table();
    }
    let hours = service["hours"].as_table_mut().ok_or_else(|| {
        refuse(msg!(
            "service {key} : hours n'est pas une table",
            "service {key}: hours is not a table"
        ))
    })?;
    for day in DAYS {
        let ranges: Array = edit
            .hours
            .get(day)
            .map(String::as_str)
            .unwrap_or_default()
            .split([',', ';'])
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(|r| r.replace(' ', "").replace('–', "-"))
            .collect();
        hours[day] = value(ranges);
    }
    let new = doc.to_string();
    Services::parse(path, &new)?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# Les services (commentaire gardé).
default = "accueil"

[services.accueil]
name = "Accueil"
phone = "01 99 00 10 00"
timezone = "Europe/Paris"
[services.accueil.hours]
mon = ["08:30-12:00"]
"#;

    fn edit(phone: &str, mon: &str) -> ContactsEdit {
        ContactsEdit {
            phone: phone.into(),
            hours: [("mon".to_string(), mon.to_string())].into(),
            ..ContactsEdit::default()
        }
    }

    #[test]
    fn a_change_keeps_the_comments_and_reads_back() {
        let p = Path::new("corpus/services.toml");
        let new = edit_contacts(
            p,
            TEXT,
            "accueil",
            &edit("01 99 00 10 01", "08:00-12:00, 14:00 – 18:00"),
        )
        .unwrap();
        assert!(
            new.starts_with("# Les services (commentaire gardé)."),
            "{new}"
        );
        assert!(new.contains(r#"phone = "01 99 00 10 01""#), "{new}");
        assert!(
            new.contains(r#"mon = ["08:00-12:00", "14:00-18:00"]"#),
            "{new}"
        );
        assert!(new.contains("sun = []"), "every day is written: {new}");
        let services = Services::parse(p, &new).unwrap();
        assert_eq!(
            services.get("accueil").unwrap().phone.as_deref(),
            Some("01 99 00 10 01")
        );
    }

    #[test]
    fn a_wrong_time_or_a_service_left_unreachable_is_refused_in_french() {
        let p = Path::new("corpus/services.toml");
        let bad = edit_contacts(p, TEXT, "accueil", &edit("01 99 00 10 00", "8h-12h")).unwrap_err();
        assert!(bad[0].to_string().contains("services.toml"), "{}", bad[0]);
        let nowhere = edit_contacts(p, TEXT, "accueil", &edit("", "")).unwrap_err();
        assert!(
            nowhere[0].to_string().contains("ni téléphone"),
            "{}",
            nowhere[0]
        );
        assert!(edit_contacts(p, TEXT, "voirie", &edit("1", "")).is_err());
    }
}
