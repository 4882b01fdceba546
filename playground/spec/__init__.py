"""Layer specs: sliding windows (``window``), value readers and limits (``keys``), typed layers
(``layers``), load + parse + validate with SpecError (``parse``), the share-link codec (``share``)."""
