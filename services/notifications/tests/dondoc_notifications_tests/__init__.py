"""The notifications service's tests (a package of its own name, so test modules never clash)."""
