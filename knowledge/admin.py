# Items and chunks are deliberately not in the admin: every read of knowledge goes through
# knowledge.selectors and the reader's visibility.
