"""Accounts: users and roles, passwords, console login sessions, API tokens, login rate limits."""
