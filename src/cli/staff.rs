//! `guichet staff add|list|disable|enable|link|roles`: staff accounts from the command
//! line (the first admin of a city is created this way; `guichet serve` never creates an
//! account). Thin: the rules are in `crate::staff`.

use anyhow::{Context, Result, bail};
use chrono::{Local, Utc};
use clap::Subcommand;

use crate::config::Config;
use crate::staff::{self, Actor, NewAccount, Role};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Create an account and print its one-time set-up link (the person chooses a password).
    Add {
        email: String,
        /// agent, editor, validator or admin (repeat for several).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// A service an editor or validator works for (repeat for several).
        #[arg(long = "service")]
        services: Vec<String>,
        /// The name shown to colleagues and residents (default: the email's first name).
        #[arg(long)]
        name: Option<String>,
        /// Set the password now instead of printing a link (the demo's accounts).
        #[arg(long, env = "GUICHET_STAFF_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Every account, its roles and state.
    List,
    /// Disable an account: its sessions end at once, it cannot sign in.
    Disable { email: String },
    /// Enable a disabled account again.
    Enable { email: String },
    /// A new one-time set-up link (a forgotten password, an expired link).
    Link { email: String },
    /// Replace an account's roles (and services).
    Roles {
        email: String,
        #[arg(long = "role")]
        roles: Vec<String>,
        #[arg(long = "service")]
        services: Vec<String>,
    },
}

fn open(config: &Config) -> Result<std::sync::Arc<dyn Store>> {
    super::kb::open(config)
}

/// The services of the store's knowledge base, else of the corpus folder (before the
/// first start imported it).
fn known_services(config: &Config, store: &dyn Store) -> Result<Vec<String>> {
    let today = Local::now().date_naive();
    let corpus = if store.kb_version()? > 0 {
        crate::kb::load(store, today)
            .with_context(|| format!("knowledge base in {}", config.db.display()))?
            .corpus
    } else {
        crate::corpus::load_checked(&config.corpus, today)
            .with_context(|| format!("corpus {}", config.corpus.display()))?
            .0
    };
    Ok(corpus.services().iter().map(|s| s.key.clone()).collect())
}

fn account(store: &dyn Store, email: &str) -> Result<staff::Account> {
    let email = staff::normalize_email(email)?;
    store
        .staff_by_email(&email)?
        .with_context(|| format!("aucun compte pour {email}"))
}

fn setup_link(config: &Config, token: &str) -> String {
    staff::setup_link(&config.public_url(), token)
}

pub fn run(config: &Config, command: StaffCommand) -> Result<i32> {
    let store = open(config)?;
    let now = Utc::now();
    let cli = Actor::cli();
    match command {
        StaffCommand::Add {
            email,
            roles,
            services,
            name,
            password,
        } => {
            let roles = Role::parse_list(&roles.join(" "))?;
            let known = known_services(config, &*store)?;
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            let new = NewAccount::new(&email, name.as_deref(), roles, services, &known)?;
            let (account, token) = staff::add_account(&*store, &new, &cli, now)?;
            println!(
                "compte créé : {} ({}), affiché « {} »",
                account.email,
                account.roles_label(),
                account.name
            );
            match password {
                Some(password) => {
                    staff::complete_setup(&*store, &token, &password, now)?;
                    println!("mot de passe défini");
                }
                None => println!(
                    "lien de création du mot de passe (valable {} h, une seule fois) :\n  {}",
                    staff::SETUP_VALID.num_hours(),
                    setup_link(config, &token)
                ),
            }
        }
        StaffCommand::List => {
            for a in store.list_staff()? {
                let mut how = Vec::new();
                if a.has_password {
                    how.push("mot de passe");
                }
                if a.sso {
                    how.push("SSO");
                }
                if how.is_empty() {
                    how.push("lien de création en attente");
                }
                println!(
                    "{}\t{}\t{}\t{}{}",
                    a.email,
                    a.name,
                    a.roles_label(),
                    how.join(" + "),
                    if a.disabled { "\tDÉSACTIVÉ" } else { "" }
                );
            }
        }
        StaffCommand::Disable { email } => {
            let a = account(&*store, &email)?;
            store.set_disabled(a.id, true, now)?;
            staff::audit(&*store, &cli, "staff.disable", Some(&a.email), None, now)?;
            println!("compte désactivé : {} (ses sessions sont fermées)", a.email);
        }
        StaffCommand::Enable { email } => {
            let a = account(&*store, &email)?;
            store.set_disabled(a.id, false, now)?;
            staff::audit(&*store, &cli, "staff.enable", Some(&a.email), None, now)?;
            println!("compte réactivé : {}", a.email);
        }
        StaffCommand::Link { email } => {
            let a = account(&*store, &email)?;
            if a.disabled {
                bail!("le compte {} est désactivé (guichet staff enable)", a.email);
            }
            let token = staff::setup_token(&*store, &a, now)?;
            staff::audit(&*store, &cli, "staff.link", Some(&a.email), None, now)?;
            println!(
                "lien de création du mot de passe (valable {} h, une seule fois) :\n  {}",
                staff::SETUP_VALID.num_hours(),
                setup_link(config, &token)
            );
        }
        StaffCommand::Roles {
            email,
            roles,
            services,
        } => {
            let a = account(&*store, &email)?;
            let roles = Role::parse_list(&roles.join(" "))?;
            let known = known_services(config, &*store)?;
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            // The same checks as a new account's.
            NewAccount::new(
                &a.email,
                Some(&a.name),
                roles.clone(),
                services.clone(),
                &known,
            )?;
            store.set_roles(a.id, &roles, &services)?;
            let label = staff::Account {
                roles,
                services,
                ..a.clone()
            }
            .roles_label();
            staff::audit(
                &*store,
                &cli,
                "staff.roles",
                Some(&a.email),
                Some(&label),
                now,
            )?;
            println!("{} : {label}", a.email);
        }
    }
    Ok(0)
}
