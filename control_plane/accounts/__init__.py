"""Customer accounts and access control: users, memberships, tokens, sessions and mail."""
