-- Incremental fatigue (docs/evolution.md#fatigue): the Meta ads whose delivery rows or
-- mapping were written since genome.detect_fatigue last read them, so a day's assessment
-- reads those ads' rows, not every row ever delivered.

CREATE TABLE genome.fatigue_delivery_changes (
    brand_id uuid NOT NULL,
    meta_ad_id text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (brand_id, meta_ad_id)
);
COMMENT ON TABLE genome.fatigue_delivery_changes IS
'Per (brand, Meta ad), a marker that its meta_ads_performance rows or its meta_ad_mapping rows were inserted, updated or deleted since genome.detect_fatigue last claimed it (statement triggers on both tables write it; every write moves changed_at, so a writer holds the marker''s row lock until it commits). detect_fatigue claims (deletes) the markers and assesses the ads mapped to them; a Meta ad with rows dated after the call''s p_now keeps its marker. docs/evolution.md#fatigue.';
COMMENT ON COLUMN genome.fatigue_delivery_changes.changed_at IS
'When the last write marked it (transaction time of the writer).';

CREATE TABLE genome.fatigue_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    settings_hash bigint NOT NULL,
    assessed_at timestamptz NOT NULL
);
COMMENT ON TABLE genome.fatigue_state IS
'One row: the fingerprint of the fatigue settings of the last genome.detect_fatigue call and its p_now. No row, or other settings: the next call assesses every mapped ad (the markers in genome.fatigue_delivery_changes cover only what was written since). docs/evolution.md#fatigue.';

-- A call with an earlier p_now reads the ads assessed with days after it.
CREATE INDEX ad_fatigue_last_date_idx ON genome.ad_fatigue (last_date);
