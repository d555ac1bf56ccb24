"""Security: accounts, roles and permissions, tokens, API keys, audit log and personal data."""
