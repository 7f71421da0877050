//! Stele's shared crate: domain types, the catalog, the canonical form, the Leptos
//! UI and the server functions. Compiled twice: to wasm for the browser (no `ssr`),
//! and natively for the server (`ssr`), where the server-only halves live.

pub mod api;
pub mod auth;
pub mod canonical;
pub mod catalog;
pub mod checkpoint;
pub mod clock;
pub mod diff;
pub mod entry;
pub mod merkle;
pub mod packs;
pub mod query;
pub mod ui;
pub mod verify;

#[cfg(feature = "ssr")]
pub mod ssr;
#[cfg(feature = "ssr")]
pub mod store;

pub use ui::App;
