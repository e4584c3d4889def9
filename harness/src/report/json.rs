//! `report.json`: the report as its schema says, pretty-printed, one per run.

use super::Report;

pub fn render(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(report).unwrap_or_else(|e| {
        // Serializing plain data cannot fail; if it ever does, say so in the file.
        format!("{{\"schema\":\"{}\",\"error\":\"{e}\"}}", super::SCHEMA)
    });
    text.push('\n');
    text
}

/// Reads a report back (for merging and gating).
pub fn parse(text: &str) -> Result<Report, serde_json::Error> {
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let report = super::super::fixtures::report();
        assert_eq!(parse(&render(&report)).unwrap(), report);
    }
}
