-- Near-duplicate checks through the HNSW index (docs/quality.md#visual-space): how far the
-- index walk for one brand's nearest approved ad goes before the brand's ads are scanned
-- exactly instead.
INSERT INTO genome.settings (key, value, description) VALUES (
    'duplicate_index_max_tuples', '2000',
    'Near-duplicate check: hnsw.max_scan_tuples of the index walk for the brand''s nearest approved ad; when the walk ends with none of the brand''s ads, they are scanned exactly'
);
