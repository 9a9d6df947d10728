-- Which brands the daily update recomputes (docs/learning.md#incremental-update): every write
-- to something update_scores reads marks the brands it concerns in
-- genome.learning_dirty_brands. Statement triggers with transition tables, so a batch of
-- rewards costs one upsert per statement, not one per row.

CREATE OR REPLACE FUNCTION genome._learning_mark_brands(p_brands uuid [], p_due timestamptz [])
RETURNS void
LANGUAGE sql
SET search_path = genome, public
AS $$
    INSERT INTO genome.learning_dirty_brands AS d (brand_id, due_at)
    SELECT m.brand_id, min(m.due_at)
    FROM unnest(p_brands, p_due) AS m (brand_id, due_at)
    INNER JOIN public.brands AS b ON b.id = m.brand_id
    WHERE m.brand_id IS NOT NULL
    GROUP BY m.brand_id
    ON CONFLICT (brand_id) DO UPDATE
    SET due_at = least(d.due_at, excluded.due_at);
$$;
COMMENT ON FUNCTION genome._learning_mark_brands(uuid [], timestamptz []) IS
'Internal: marks each brand of p_brands due for the next update_scores at p_now >= its p_due (the earliest of its entries, and of a marker it already has; docs/learning.md#incremental-update).';

CREATE OR REPLACE FUNCTION genome._learning_inputs_changed()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public, pg_temp
AS $$
DECLARE
    v_brands uuid [];
    v_due timestamptz [];
BEGIN
    -- Definer: whoever writes an input (the app its brands' category, the jobs the rewards),
    -- the marker is written; it names only brands, and the brands the change concerns
    -- (docs/security.md#definer-functions).
    IF TG_OP = 'TRUNCATE'
       OR TG_TABLE_NAME IN ('settings', 'element_values', 'element_dimensions', 'learner_objective_evidence') THEN
        -- A global input: every brand.
        SELECT array_agg(b.id), array_agg('-infinity'::timestamptz) INTO v_brands, v_due
        FROM public.brands AS b;
    ELSIF TG_TABLE_NAME IN ('creative_element_rewards', 'causal_effects') THEN
        -- A reward counts from its matured_at on, a causal effect from its created_at: the
        -- brand is due then (at once for one that already counts). The statement's rows
        -- from its transition tables (new, old or both).
        EXECUTE format(
            'SELECT array_agg(x.brand_id), array_agg(x.%I) FROM (%s) AS x',
            CASE TG_TABLE_NAME WHEN 'causal_effects' THEN 'created_at' ELSE 'matured_at' END,
            CASE TG_OP
                WHEN 'INSERT' THEN 'SELECT * FROM new_rows'
                WHEN 'DELETE' THEN 'SELECT * FROM old_rows'
                ELSE 'SELECT * FROM new_rows UNION ALL SELECT * FROM old_rows'
            END
        ) INTO v_brands, v_due;
    ELSIF TG_TABLE_NAME = 'experiment_arms' THEN
        -- An arm's impressions weigh the causal effect of its experiment (the share already
        -- counted, docs/learning.md#causal-evidence): the brands with an effect from it.
        SELECT array_agg(DISTINCT ce.brand_id) INTO v_brands
        FROM genome.causal_effects AS ce
        WHERE ce.experiment_id IN (
            SELECT n.experiment_id FROM new_rows AS n
            UNION
            SELECT o.experiment_id FROM old_rows AS o
        );
        v_due := array_fill('-infinity'::timestamptz, ARRAY[coalesce(cardinality(v_brands), 0)]);
    ELSIF TG_TABLE_NAME = 'brands' THEN
        -- A brand's category or sharing: its own priors, and its old and new opted-in
        -- category peers' (docs/learning.md#category-priors).
        SELECT array_agg(DISTINCT p.id) INTO v_brands
        FROM public.brands AS p
        WHERE p.id = NEW.id
           OR (p.cross_brand_sharing AND p.category IS NOT NULL AND p.category IN (OLD.category, NEW.category));
        v_due := array_fill('-infinity'::timestamptz, ARRAY[coalesce(cardinality(v_brands), 0)]);
    END IF;
    IF v_brands IS NOT NULL THEN
        PERFORM genome._learning_mark_brands(v_brands, v_due);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION genome._learning_inputs_changed() IS
'Internal trigger on the inputs of update_scores (docs/learning.md#incremental-update): marks in genome.learning_dirty_brands the brands a write concerns - a reward''s brand from its matured_at, a causal effect''s brand from its created_at, the brands with a causal effect of an experiment whose arms changed, a brand whose category, sharing or organization changed with its old and new opted-in category peers, and every brand on a change to the settings, the element registry or learner_objective_evidence (or a TRUNCATE). SECURITY DEFINER, so a write by any role allowed to make it marks the brands (docs/security.md#definer-functions).';

CREATE OR REPLACE TRIGGER creative_element_rewards_learning_insert
AFTER INSERT ON genome.creative_element_rewards
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION genome._learning_inputs_changed();
CREATE OR REPLACE TRIGGER creative_element_rewards_learning_update
AFTER UPDATE ON genome.creative_element_rewards
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION genome._learning_inputs_changed();
CREATE OR REPLACE TRIGGER creative_element_rewards_learning_delete
AFTER DELETE ON genome.creative_element_rewards
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION genome._learning_inputs_changed();
CREATE OR REPLACE TRIGGER creative_element_rewards_learning_truncate
AFTER TRUNCATE ON genome.creative_element_rewards
FOR EACH STATEMENT EXECUTE FUNCTION genome._learning_inputs_changed();

CREATE OR REPLACE TRIGGER causal_effects_learning_insert
AFTER INSERT ON genome.causal_effects
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION genome._learning_inputs_changed();
CREATE OR REPLACE TRIGGER causal_effects_learning_update
AFTER UPDATE ON genome.causal_effects
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION genome._learning_inputs_changed();
CREATE OR REPLACE TRIGGER causal_effects_learning_delete
AFTER DELETE ON genome.causal_effects
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION genome._learning_inputs_changed();
CREATE OR REPLACE TRIGGER causal_effects_learning_truncate
AFTER TRUNCATE ON genome.causal_effects
FOR EACH STATEMENT EXECUTE FUNCTION genome._learning_inputs_changed();

CREATE OR REPLACE TRIGGER experiment_arms_learning_update
AFTER UPDATE ON genome.experiment_arms
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION genome._learning_inputs_changed();

CREATE OR REPLACE TRIGGER brands_learning_changed
AFTER UPDATE OF category, cross_brand_sharing, organization_id ON public.brands
FOR EACH ROW
WHEN (
    (old.category, old.cross_brand_sharing, old.organization_id)
    IS DISTINCT FROM (new.category, new.cross_brand_sharing, new.organization_id)
)
EXECUTE FUNCTION genome._learning_inputs_changed();

CREATE OR REPLACE TRIGGER settings_learning_changed
AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON genome.settings
FOR EACH STATEMENT EXECUTE FUNCTION genome._learning_inputs_changed();
CREATE OR REPLACE TRIGGER element_values_learning_changed
AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON genome.element_values
FOR EACH STATEMENT EXECUTE FUNCTION genome._learning_inputs_changed();
CREATE OR REPLACE TRIGGER element_dimensions_learning_changed
AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON genome.element_dimensions
FOR EACH STATEMENT EXECUTE FUNCTION genome._learning_inputs_changed();
CREATE OR REPLACE TRIGGER learner_objective_evidence_learning_changed
AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON genome.learner_objective_evidence
FOR EACH STATEMENT EXECUTE FUNCTION genome._learning_inputs_changed();
