//! Helpers shared by the lesson tests.

use course_lib::train::History;

/// A history as rows of rounded numbers: what the seeded-loss snapshots pin.
pub fn rounded_history(name: &str, h: &History) -> String {
    let rows: Vec<String> = h.epochs.iter().map(|row| row.iter().map(|v| format!("{v:.3}")).collect::<Vec<_>>().join(" ")).collect();
    format!("{name}: {}\n  {}", h.names.join(" "), rows.join("\n  "))
}
