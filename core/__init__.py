"""novatui core: Nova's instance lifecycle on libvirt hosts, without OpenStack.

Data flows api -> bus -> conductor/scheduler -> compute -> virt driver, with the SQLite store
holding the truth and the engine thread tying it together. Nothing here imports Textual.
"""
