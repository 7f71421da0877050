//! The `stele` server: configuration, the stores, the HTTP router and the demo data.

pub mod assets;
pub mod cli;
pub mod config;
pub mod demo;
pub mod export;
pub mod http;
pub mod ingest;
pub mod rest;
pub mod signing;
pub mod store;
pub mod strict_json;

// The server functions live in `app`; naming them here makes sure the linker keeps
// their registrations in every binary that links this crate.
pub use app::api::{Login as LoginFn, TenantFeed as TenantFeedFn};

/// Every binary linking the server (stele, its tests and benchmarks) allocates with
/// mimalloc: under glibc's allocator a third of an export went to malloc and free.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
