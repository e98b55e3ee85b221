"""One sub-package per provider: API client, translation of outputs into item drafts, and simulator."""
