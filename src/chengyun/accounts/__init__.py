"""Accounts (账号): users, role grants scoped to administrative units, tokens, sessions and the audit trail."""
