"""The dataset pages: a dataset's card, rows, files, versions and changelog as HTML at the Hub's URLs, and its
Croissant description, all read from the store."""
