"""The Designer's library: analysis, advice, build + export, presets, receptive-field view, the editor model."""
