"""Layer specs: typed layers, value readers, parse + validate (SpecError), share-link codec."""
