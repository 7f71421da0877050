//! Demo history: a realistic MSP fleet's audit trail, written through the same
//! `Store::append` path as every other entry. Deterministic for a given seed.

use crate::cli::{self, NewUser, PasswordSource};
use app::auth::Role;
use app::catalog::EventType as E;
use app::entry::{Actor, Context, NewEntry, Tenant};
use app::store::{Mutation, Store};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

pub const DEMO_SLUG: &str = "northwind";
pub const DEMO_NAME: &str = "Northwind Managed Voice";
/// Every demo account's password. Exists only in demo mode.
pub const DEMO_PASSWORD: &str = "stele-demo-password";
pub const DEMO_SUPER_ADMIN: &str = "root@stele.example";

/// A demo MSP: its instances (the last one is decommissioned during the period) and
/// its staff as (email, name, role, granted instance indexes).
pub struct Fleet {
    pub slug: &'static str,
    pub name: &'static str,
    pub instances: &'static [(&'static str, &'static str)],
    pub staff: &'static [(&'static str, &'static str, Role, &'static [usize])],
}

pub const NORTHWIND: Fleet = Fleet {
    slug: DEMO_SLUG,
    name: DEMO_NAME,
    instances: &[
        ("pbx-acme-hq", "Acme HQ"),
        ("pbx-birchwood", "Birchwood Dental"),
        ("pbx-cobalt-wh", "Cobalt Logistics – Warehouse"),
        ("pbx-delta-law", "Delta Law Partners"),
        ("pbx-evergreen", "Evergreen Clinic"),
    ],
    staff: &[
        ("jane@northwind.example", "Jane Doe", Role::Owner, &[]),
        ("marco@northwind.example", "Marco Rossi", Role::Admin, &[]),
        (
            "priya@northwind.example",
            "Priya Natarajan",
            Role::Member,
            &[0, 1],
        ),
        ("tom@northwind.example", "Tom Becker", Role::Member, &[2]),
    ],
};

pub const HARBOR: Fleet = Fleet {
    slug: "harbor",
    name: "Harbor IT Services",
    instances: &[
        ("pbx-marina", "Harbor Marina Office"),
        ("pbx-lakeside-vet", "Lakeside Veterinary"),
        ("pbx-summit", "Summit Realty"),
        ("pbx-old-mill", "Old Mill Bakery"),
    ],
    staff: &[
        ("olivia@harbor.example", "Olivia Chen", Role::Owner, &[]),
        ("ken@harbor.example", "Ken Adams", Role::Admin, &[]),
        ("sara@harbor.example", "Sara Lind", Role::Member, &[0]),
        ("luis@harbor.example", "Luis Ortega", Role::Member, &[1, 2]),
    ],
};

/// How much history to generate.
#[derive(Debug, Clone)]
pub struct DemoPlan {
    pub events: u32,
    pub seed: u64,
    pub days: u32,
}

impl Default for DemoPlan {
    fn default() -> Self {
        DemoPlan {
            events: 400,
            seed: 7,
            days: 30,
        }
    }
}

/// SplitMix64: small, fast and reproducible across platforms.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const IPS: &[&str] = &[
    "203.0.113.24",
    "198.51.100.7",
    "192.0.2.143",
    "203.0.113.80",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
];
const NAMES: &[&str] = &[
    "Reception",
    "Sales",
    "Support",
    "Billing",
    "Dr. Hale",
    "Front Desk",
    "Dispatch",
    "Warehouse Floor",
    "Night Shift",
    "Conference Room",
];
const PARAMETERS: &[(&str, &[&str])] = &[
    ("after_hours_start", &["17:00", "17:30", "18:00", "19:00"]),
    ("voicemail_retention_days", &["30", "60", "90"]),
    (
        "codec_priority",
        &["G722,PCMU", "OPUS,G722,PCMU", "PCMU,PCMA"],
    ),
    ("max_call_duration_min", &["120", "240", "480"]),
    ("sip_session_timer", &["900", "1800"]),
];
const VERSIONS: &[&str] = &["20.0.4.1020", "20.0.5.1102", "20.0.6.1180", "20.0.7.1201"];

struct Gen {
    rng: Rng,
    extension_no: u32,
    /// Staff as actors (id, name, email).
    people: Vec<(String, String, String)>,
}

impl Gen {
    fn person(&mut self) -> (Actor, Context) {
        let (id, name, email) = self.rng.pick(&self.people).clone();
        let ctx = Context {
            ip: Some((*self.rng.pick(IPS)).to_owned()),
            user_agent: Some((*self.rng.pick(AGENTS)).to_owned()),
            session_id: Some(format!("sess-{:08x}", self.rng.next() as u32)),
            request_id: Some(format!("req-{:016x}", self.rng.next())),
        };
        (Actor::user(id, Some(&name), Some(&email)), ctx)
    }

    /// One plausible event on `instance` (or tenant-level when it is `None`).
    fn event(&mut self, instance: (&str, &str), at: DateTime<Utc>) -> NewEntry {
        let (iid, iname) = instance;
        let (person, ctx) = self.person();
        let on = |e: NewEntry| e.instance(iid, iname).occurred_at(at);
        let roll = self.rng.below(112);
        let e = match roll {
            0..=11 => {
                self.extension_no += 1;
                let ext = 100 + self.extension_no % 800;
                let name = *self.rng.pick(NAMES);
                on(NewEntry::new(
                    E::ExtensionCreated,
                    person,
                    format!("Created extension {ext} ({name}) on {iname}"),
                ))
                .target("extension", ext.to_string(), Some(name))
                .change("number", None, Some(json!(ext.to_string())))
                .change("display_name", None, Some(json!(name)))
                .change("voicemail.enabled", None, Some(json!(true)))
            }
            12..=23 => {
                let ext = 100 + self.rng.below(60);
                let name = *self.rng.pick(NAMES);
                let (old, new) = if self.rng.below(2) == 0 {
                    ("20", "30")
                } else {
                    ("30", "15")
                };
                on(NewEntry::new(
                    E::ExtensionUpdated,
                    person,
                    format!("Updated extension {ext} ({name}): ring timeout {old}s → {new}s"),
                ))
                .target("extension", ext.to_string(), Some(name))
                .change(
                    "ring_timeout_s",
                    Some(json!(old.parse::<u32>().unwrap_or(20))),
                    Some(json!(new.parse::<u32>().unwrap_or(30))),
                )
                .change(
                    "forwarding.no_answer",
                    Some(json!("voicemail")),
                    Some(json!(format!("ext:{}", ext + 1))),
                )
            }
            24..=27 => {
                let ext = 100 + self.rng.below(60);
                on(NewEntry::new(
                    E::ExtensionDeleted,
                    person,
                    format!("Deleted extension {ext} on {iname}"),
                ))
                .target("extension", ext.to_string(), None)
                .change("number", Some(json!(ext.to_string())), None)
            }
            28..=29 => {
                let ext = 100 + self.rng.below(60);
                on(NewEntry::new(
                    E::ExtensionGreetingUploaded,
                    person,
                    format!("Uploaded a new voicemail greeting for extension {ext}"),
                ))
                .target("extension", ext.to_string(), None)
                .meta("file", json!(format!("greeting-{ext}.wav")))
                .meta("duration_s", json!(8 + self.rng.below(20)))
            }
            30..=41 => {
                let (param, values) = *self.rng.pick(PARAMETERS);
                let created = self.rng.below(5) == 0;
                let value = *self.rng.pick(values);
                let previous = if created {
                    None
                } else {
                    Some(*self.rng.pick(values))
                };
                let desc = match previous {
                    Some(p) => format!("Pushed {param} = {value} to {iname} (was {p})"),
                    None => format!("Pushed new parameter {param} = {value} to {iname}"),
                };
                on(NewEntry::new(E::ConfigParameterPushed, person, desc))
                    .target("parameter", param, None)
                    .change(param, previous.map(|p| json!(p)), Some(json!(value)))
                    .meta("parameter", json!(param))
                    .meta("value", json!(value))
                    .meta("previous_value", previous.map_or(Value::Null, |p| json!(p)))
                    .meta("created", json!(created))
            }
            42..=47 => {
                let open = self.rng.below(2) == 0;
                on(NewEntry::new(
                    E::ConfigSettingChanged,
                    person,
                    format!("Changed the after-hours rule on {iname}"),
                ))
                .target("setting", "office_hours", Some("Office hours"))
                .change(
                    "office_hours.friday.end",
                    Some(json!(if open { "17:00" } else { "18:00" })),
                    Some(json!(if open { "18:00" } else { "16:00" })),
                )
                .change(
                    "office_hours.after_hours_route",
                    Some(json!("voicemail:reception")),
                    Some(json!("queue:support")),
                )
            }
            48..=51 => on(NewEntry::new(
                E::TrunkUpdated,
                person,
                format!("Updated SIP trunk \"Primary\" on {iname}"),
            ))
            .target("trunk", "trunk-primary", Some("Primary"))
            .change(
                "registrar",
                Some(json!("sip.carrier-a.example")),
                Some(json!("sip2.carrier-a.example")),
            )
            .change("password", Some(json!("***")), Some(json!("***")))
            .change("max_channels", Some(json!(8)), Some(json!(12))),
            52..=54 => on(NewEntry::new(
                E::QueueUpdated,
                person,
                format!("Updated queue \"Support\" on {iname}: added 2 agents"),
            ))
            .target("queue", "q-support", Some("Support"))
            .change(
                "agents",
                Some(json!(["101", "102"])),
                Some(json!(["101", "102", "107", "108"])),
            )
            .change(
                "strategy",
                Some(json!("ring_all")),
                Some(json!("longest_idle")),
            ),
            55..=56 => on(NewEntry::new(
                E::RingGroupUpdated,
                person,
                format!("Updated ring group \"Front Desk\" on {iname}"),
            ))
            .target("ring_group", "rg-front", Some("Front Desk"))
            .change(
                "members",
                Some(json!(["100", "101"])),
                Some(json!(["100", "101", "103"])),
            ),
            57..=58 => on(NewEntry::new(
                E::PromptUploaded,
                person,
                format!("Uploaded prompt \"Holiday closure\" to {iname}"),
            ))
            .target("prompt", "prompt-holiday", Some("Holiday closure"))
            .meta("file", json!("holiday-closure.wav")),
            59 => on(NewEntry::new(
                E::ReceptionistUpdated,
                person,
                format!("Updated digital receptionist \"Main menu\" on {iname}"),
            ))
            .target("receptionist", "ivr-main", Some("Main menu"))
            .change(
                "options.3",
                Some(json!("queue:billing")),
                Some(json!("ext:110")),
            ),
            60..=62 => {
                let (old, new) = if self.rng.below(2) == 0 {
                    ("stable", "beta")
                } else {
                    ("beta", "stable")
                };
                on(NewEntry::new(
                    E::UpdateChannelChanged,
                    person,
                    format!("Changed the update channel of {iname} from {old} to {new}"),
                ))
                .change("update_channel", Some(json!(old)), Some(json!(new)))
            }
            63..=65 => {
                let v = *self.rng.pick(VERSIONS);
                on(NewEntry::new(
                    E::UpdateScheduled,
                    person,
                    format!("Scheduled update {v} for {iname} tonight at 02:00"),
                ))
                .meta("version", json!(v))
                .meta("window", json!("02:00–04:00"))
            }
            66..=68 => {
                let i = self.rng.below(VERSIONS.len() as u64 - 1) as usize;
                on(NewEntry::new(
                    E::UpdateInstalled,
                    Actor::system(),
                    format!("Installed update {} on {iname}", VERSIONS[i + 1]),
                ))
                .change(
                    "version",
                    Some(json!(VERSIONS[i])),
                    Some(json!(VERSIONS[i + 1])),
                )
            }
            69 => on(NewEntry::new(
                E::UpdateFailed,
                Actor::system(),
                format!("Update on {iname} failed: not enough disk space"),
            ))
            .meta(
                "error",
                json!("insufficient disk space: 412 MB free, 1.2 GB needed"),
            ),
            70..=72 => on(NewEntry::new(
                E::MaintenanceStarted,
                person,
                format!("Started maintenance on {iname}"),
            ))
            .meta("reason", json!("Carrier migration")),
            73..=74 => on(NewEntry::new(
                E::MaintenanceEnded,
                person,
                format!("Ended maintenance on {iname}"),
            )),
            75 => on(NewEntry::new(
                E::MaintenanceWindowCreated,
                person,
                format!("Created a maintenance window for {iname}: Sundays 01:00–03:00"),
            ))
            .target(
                "maintenance_window",
                format!("mw-{}", self.rng.below(1000)),
                Some("Sunday nights"),
            )
            .change(
                "schedule",
                None,
                Some(json!({"day": "sunday", "start": "01:00", "end": "03:00"})),
            ),
            76..=80 => on(NewEntry::new(
                E::AlertAcknowledged,
                person,
                format!("Acknowledged alert \"Trunk registration lost\" on {iname}"),
            ))
            .target(
                "alert",
                format!("alert-{}", self.rng.below(10_000)),
                Some("Trunk registration lost"),
            ),
            81..=86 => on(NewEntry::new(
                E::AlertAutoResolved,
                Actor::system(),
                format!("Alert \"High jitter\" on {iname} auto-resolved on the next poll"),
            ))
            .target(
                "alert",
                format!("alert-{}", self.rng.below(10_000)),
                Some("High jitter"),
            )
            .change("state", Some(json!("firing")), Some(json!("resolved"))),
            87..=89 => on(NewEntry::new(
                E::ServiceAutoRestarted,
                Actor::system(),
                format!("Self-healing restarted the \"3CX Queue Manager\" service on {iname}"),
            ))
            .target("service", "queue-manager", Some("3CX Queue Manager"))
            .meta("attempt", json!(1)),
            90..=91 => on(NewEntry::new(
                E::AlertMuted,
                person,
                format!("Muted alert \"Disk 85% full\" on {iname} for 24 hours"),
            ))
            .target(
                "alert",
                format!("alert-{}", self.rng.below(10_000)),
                Some("Disk 85% full"),
            )
            .change(
                "muted_until",
                None,
                Some(json!((at + Duration::hours(24)).to_rfc3339())),
            ),
            92..=93 => on(NewEntry::new(
                E::InstanceCredentialsSaved,
                person,
                format!("Saved new admin credentials for {iname}"),
            ))
            .change("admin_user", Some(json!("admin")), Some(json!("msp-admin")))
            .change("admin_password", Some(json!("***")), Some(json!("***"))),
            94 => on(NewEntry::new(
                E::InstanceLicenseRefreshed,
                person,
                format!("Refreshed the license of {iname}"),
            ))
            .change(
                "license.expires",
                Some(json!("2026-12-31")),
                Some(json!("2027-12-31")),
            ),
            95..=96 => {
                let old = format!("{}.{}.example.net", iid, "old");
                on(NewEntry::new(
                    E::InstanceAddressChanged,
                    person,
                    format!("Changed the address of {iname}"),
                ))
                .change(
                    "address",
                    Some(json!(old)),
                    Some(json!(format!("{iid}.pbx.example.net"))),
                )
            }
            100.. => return self.rare(instance, at, person, ctx),
            _ => {
                // Tenant-level security events: no instance attached.
                let entry = if roll == 97 {
                    NewEntry::new(
                        E::AuthLoginFailed,
                        Actor::system(),
                        "Failed login for marco@northwind-msp.example: wrong password",
                    )
                    .meta("attempted_email", json!("marco@northwind-msp.example"))
                } else if roll == 98 {
                    NewEntry::new(
                        E::AuthRecoveryCodeUsed,
                        person,
                        "Used a single-use recovery code to sign in",
                    )
                } else {
                    NewEntry::new(E::AuthLoginSucceeded, person, "Signed in")
                };
                return entry.occurred_at(at).context(ctx);
            }
        };
        e.context(ctx)
    }

    /// The rest of the catalog's everyday events, less frequent.
    fn rare(
        &mut self,
        (iid, iname): (&str, &str),
        at: DateTime<Utc>,
        person: Actor,
        ctx: Context,
    ) -> NewEntry {
        let n = 1 + self.rng.below(9);
        let email = |who: &str| format!("{who}@{iid}.example");
        let e = match self.rng.below(22) {
            0 => NewEntry::new(
                E::TrunkDeleted,
                person,
                format!("Deleted trunk SIP-{n} on {iname}"),
            )
            .target("trunk", format!("trunk-{n}"), Some(&format!("SIP-{n}")))
            .change("provider", Some(json!("VoipCo")), None),
            1 => NewEntry::new(
                E::QueueDeleted,
                person,
                format!("Deleted queue 80{n} on {iname}"),
            )
            .target("queue", format!("80{n}"), Some("Overflow"))
            .change("agents", Some(json!(["101", "102"])), None),
            2 => NewEntry::new(
                E::RingGroupDeleted,
                person,
                format!("Deleted ring group 70{n}"),
            )
            .target("ring_group", format!("70{n}"), Some("Front office"))
            .change("members", Some(json!(["101", "104"])), None),
            3 => NewEntry::new(
                E::ReceptionistDeleted,
                person,
                format!("Deleted digital receptionist 60{n}"),
            )
            .target("receptionist", format!("60{n}"), Some("Holiday menu"))
            .change("menu", Some(json!({"1": "sales", "2": "support"})), None),
            4 => NewEntry::new(
                E::DepartmentUpdated,
                person,
                format!("Updated department Sales on {iname}"),
            )
            .target("department", format!("dept-{n}"), Some("Sales"))
            .change(
                "office_hours.end",
                Some(json!("17:00")),
                Some(json!("18:00")),
            ),
            5 => NewEntry::new(
                E::DepartmentDeleted,
                person,
                "Deleted department Night Shift",
            )
            .target("department", format!("dept-{n}"), Some("Night Shift"))
            .change("name", Some(json!("Night Shift")), None),
            6 => NewEntry::new(
                E::PromptAssigned,
                person,
                format!("Assigned prompt welcome-{n}.wav to the main menu"),
            )
            .target(
                "prompt",
                format!("welcome-{n}"),
                Some(&format!("welcome-{n}.wav")),
            )
            .change(
                "main_menu.prompt",
                Some(json!("welcome.wav")),
                Some(json!(format!("welcome-{n}.wav"))),
            ),
            7 => NewEntry::new(
                E::PromptDeleted,
                person,
                format!("Deleted prompt holiday-{n}.wav"),
            )
            .target(
                "prompt",
                format!("holiday-{n}"),
                Some(&format!("holiday-{n}.wav")),
            )
            .change("file", Some(json!(format!("holiday-{n}.wav"))), None),
            8 => {
                let old = *self.rng.pick(VERSIONS);
                let new = *self.rng.pick(VERSIONS);
                NewEntry::new(
                    E::InstanceVersionChanged,
                    Actor::system(),
                    format!("{iname} now reports version {new}"),
                )
                .change("version", Some(json!(old)), Some(json!(new)))
            }
            9 => NewEntry::new(
                E::MaintenanceWindowDeleted,
                person,
                format!("Deleted the Sunday maintenance window of {iname}"),
            )
            .target(
                "maintenance_window",
                format!("mw-{n}"),
                Some("Sunday 02:00"),
            )
            .change(
                "window",
                Some(json!({"day": "sunday", "start": "02:00", "hours": 2})),
                None,
            ),
            10 => NewEntry::new(
                E::MaintenancePurged,
                person,
                format!("Purged {} old call recordings on {iname}", 100 * n),
            )
            .meta("files", json!(100 * n))
            .meta("freed_mb", json!(250 * n)),
            11 => NewEntry::new(
                E::InstanceConnected,
                Actor::system(),
                format!("{iname} connected"),
            )
            .change("status", Some(json!("offline")), Some(json!("online"))),
            12 => NewEntry::new(
                E::InstanceReauthenticated,
                person,
                format!("Re-authenticated {iname}"),
            )
            .meta("method", json!("api token")),
            13 => NewEntry::new(
                E::InstanceNotificationEmailChanged,
                person,
                format!("Changed the notification email of {iname}"),
            )
            .change(
                "notification_email",
                Some(json!(email("it"))),
                Some(json!(email("alerts"))),
            ),
            14 => NewEntry::new(
                E::StatusPageCreated,
                person,
                format!("Created a customer status page for {iname}"),
            )
            .target("status_page", format!("sp-{iid}"), Some(iname))
            .change("public", None, Some(json!(true))),
            15 => NewEntry::new(
                E::StatusPageUpdated,
                person,
                format!("Updated the status page of {iname}"),
            )
            .target("status_page", format!("sp-{iid}"), Some(iname))
            .change("show_uptime", Some(json!(false)), Some(json!(true))),
            16 => NewEntry::new(
                E::InstanceCredentialsCleared,
                person,
                format!("Cleared the stored admin credentials of {iname}"),
            )
            .change("admin_user", Some(json!("msp-admin")), None)
            .change("admin_password", Some(json!("old-secret")), None),
            17 => NewEntry::new(
                E::AlertResolved,
                person,
                format!("Resolved alert: disk usage on {iname}"),
            )
            .target("alert", format!("alert-{n}"), Some("Disk usage above 90%"))
            .change("state", Some(json!("open")), Some(json!("resolved"))),
            18 => {
                return NewEntry::new(E::AuthLogout, person, "Signed out")
                    .occurred_at(at)
                    .context(ctx)
            }
            19 => {
                return NewEntry::new(
                    E::AuthPasswordResetRequested,
                    person,
                    "Requested a password reset",
                )
                .occurred_at(at)
                .context(ctx)
            }
            20 => {
                return NewEntry::new(
                    E::AuthPasswordResetCompleted,
                    person,
                    "Completed a password reset",
                )
                .occurred_at(at)
                .context(ctx)
            }
            _ => {
                return NewEntry::new(E::AuthMfaFailed, person, "Failed a second-factor challenge")
                    .meta("method", json!("totp"))
                    .occurred_at(at)
                    .context(ctx)
            }
        };
        e.instance(iid, iname).occurred_at(at).context(ctx)
    }
}

/// Creates every demo account and history unless the demo tenant exists already.
/// Returns whether it seeded.
pub async fn seed_all(store: &dyn Store, plan: &DemoPlan) -> anyhow::Result<bool> {
    if store.tenant_by_slug(DEMO_SLUG).await?.is_some() {
        return Ok(false);
    }
    let platform = cli::platform_tenant(store).await?;
    if store.user_by_email(DEMO_SUPER_ADMIN).await?.is_none() {
        cli::create_user(
            store,
            &platform,
            NewUser {
                tenant: None,
                email: DEMO_SUPER_ADMIN,
                name: Some("Sam Rivera"),
                role: None,
                super_admin: true,
            },
            PasswordSource::Given(DEMO_PASSWORD.to_owned()),
        )
        .await?;
    }
    seed_fleet(store, &platform, &NORTHWIND, plan).await?;
    let smaller = DemoPlan {
        events: (plan.events / 2).max(20),
        seed: plan.seed.wrapping_add(1),
        ..plan.clone()
    };
    seed_fleet(store, &platform, &HARBOR, &smaller).await?;
    Ok(true)
}

/// One demo tenant: its staff (password [`DEMO_PASSWORD`]), its history, then the
/// members' instance grants.
pub async fn seed_fleet(
    store: &dyn Store,
    platform: &Tenant,
    fleet: &Fleet,
    plan: &DemoPlan,
) -> anyhow::Result<Tenant> {
    let tenant = cli::create_tenant(store, fleet.slug, fleet.name).await?;
    let mut people = Vec::new();
    for (email, name, role, _) in fleet.staff {
        let (user, _) = cli::create_user(
            store,
            platform,
            NewUser {
                tenant: Some(&tenant),
                email,
                name: Some(name),
                role: Some(*role),
                super_admin: false,
            },
            PasswordSource::Given(DEMO_PASSWORD.to_owned()),
        )
        .await?;
        people.push((user.id.to_string(), name.to_string(), email.to_string()));
    }
    let ids = people.iter().map(|p| p.0.clone()).collect::<Vec<_>>();
    history(store, &tenant, fleet, people, plan).await?;
    for ((_, _, _, grants), user_id) in fleet.staff.iter().zip(ids) {
        for &i in *grants {
            let (iid, iname) = fleet.instances[i];
            let user_id = uuid::Uuid::parse_str(&user_id)?;
            let entry = NewEntry::new(
                E::InstanceAccessGranted,
                Actor::system(),
                format!("Granted access to {iname}"),
            )
            .instance(iid, iname)
            .target("user", user_id.to_string(), None)
            .change("access", Some(json!(false)), Some(json!(true)));
            store
                .commit(
                    tenant.id,
                    Mutation::Grant {
                        user_id,
                        instance_id: iid.to_owned(),
                    },
                    vec![entry],
                )
                .await?;
        }
    }
    Ok(tenant)
}

/// A tenant's generated history: instances added, everyday changes, System events,
/// the last instance decommissioned two thirds in.
pub async fn history(
    store: &dyn Store,
    tenant: &Tenant,
    fleet: &Fleet,
    people: Vec<(String, String, String)>,
    plan: &DemoPlan,
) -> anyhow::Result<()> {
    let events = history_events(fleet, people, plan)?;
    for batch in events.chunks(500) {
        store.append(tenant.id, batch.to_vec()).await?;
    }
    Ok(())
}

/// Three generated staff members for a tenant without accounts: `(id, name, email)`.
pub fn staff(domain: &str) -> Vec<(String, String, String)> {
    ["Alex Morgan", "Riley Park", "Jordan Blake"]
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                format!("demo-user-{i}"),
                n.to_string(),
                format!("user{i}@{domain}.example"),
            )
        })
        .collect()
}

/// The entries of [`history`], oldest first, ending now (the ingest benchmark
/// appends them itself, to time only the appends).
pub fn history_events(
    fleet: &Fleet,
    people: Vec<(String, String, String)>,
    plan: &DemoPlan,
) -> anyhow::Result<Vec<NewEntry>> {
    anyhow::ensure!(!people.is_empty(), "a demo tenant needs staff");
    let instances = fleet.instances;
    let deleted_index = instances.len() - 1;
    let mut gen = Gen {
        rng: Rng(plan.seed),
        extension_no: 0,
        people,
    };
    let end = Utc::now();
    let span_ms = i64::from(plan.days.max(1)) * 86_400_000;
    let start = end - Duration::milliseconds(span_ms);
    let n = u64::from(plan.events.max(instances.len() as u32 + 1));
    let deleted_at = start + Duration::milliseconds(span_ms * 2 / 3);

    let mut batch = Vec::with_capacity(n as usize);
    for (k, (id, name)) in instances.iter().enumerate() {
        let (person, ctx) = gen.person();
        let at = start + Duration::minutes(k as i64 * 7);
        batch.push(
            NewEntry::new(
                E::InstanceCreated,
                person,
                format!("Added {name} to the fleet"),
            )
            .instance(*id, *name)
            .occurred_at(at)
            .change("name", None, Some(json!(name)))
            .change(
                "address",
                None,
                Some(json!(format!("{id}.pbx.example.net"))),
            )
            .context(ctx),
        );
    }
    let mut decommissioned = false;
    let remaining = n - instances.len() as u64;
    for k in 0..remaining {
        let at =
            start + Duration::milliseconds(((k + 1) as i64 * span_ms) / (remaining as i64 + 1));
        if !decommissioned && at >= deleted_at {
            decommissioned = true;
            let (id, name) = instances[deleted_index];
            let (person, ctx) = gen.person();
            batch.push(
                NewEntry::new(
                    E::InstanceDeleted,
                    person,
                    format!("Removed {name} from the fleet (contract ended)"),
                )
                .instance(id, name)
                .occurred_at(at)
                .change("name", Some(json!(name)), None)
                .context(ctx),
            );
            continue;
        }
        let live = if decommissioned {
            deleted_index
        } else {
            instances.len()
        };
        let instance = instances[gen.rng.below(live as u64) as usize];
        batch.push(gen.event(instance, at));
    }
    Ok(batch)
}
