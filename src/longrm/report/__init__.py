"""Tables, figures and REPORT.md of the study, from result files only (no model code)."""
