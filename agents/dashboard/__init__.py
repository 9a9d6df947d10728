"""`genome dashboard`: a small server-rendered web dashboard over the Creative Genome database."""
