"""The regulator's pull side: filtered lists, incremental sync by change sequence, bulk export,
every read logged (docs/architecture.md, "Regulator exchange")."""
