"""novatui's console (Textual). It talks to core's Engine and listens to its events only."""
