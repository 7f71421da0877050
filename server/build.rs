// The migrations are embedded by `sqlx::migrate!`: rebuild when one changes (sqlx's
// documented build script; without it a changed migration alone rebuilds nothing).
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
