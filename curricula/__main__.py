"""`python -m curricula` checks every shipped curriculum and rule set (same as `safetrain curricula check`)."""

import sys

from curricula.loader import CatalogueError, load_catalogue

try:
    cat = load_catalogue()
except CatalogueError as exc:
    print(exc, file=sys.stderr)
    sys.exit(2)
for c in cat.curricula.values():
    print(f"ok {c.code:<16} {len(c.questions):>3} questions  {c.title.zh}")
for r in cat.rule_sets:
    print(f"ok rule set {r.code} from {r.effective_from} until {r.effective_until or '-'}")
