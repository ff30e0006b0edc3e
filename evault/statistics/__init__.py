"""Statistics for annual reports (`004`): what the vault holds over a period, for records managers and auditors."""
