-- V1 history feeds the genome: derive element_tags from what V1 rows already hold. A step of
-- collect_rewards, named _collect_rewards_<step> so the security set-up keeps it the job's
-- (not the app's to call).

CREATE OR REPLACE FUNCTION genome._collect_rewards_backfill_tags()
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_rows integer;
BEGIN
    WITH derived AS (
        SELECT
            g.id,
            coalesce(
                jsonb_object_agg(d.dimension, res.val) FILTER (WHERE res.val IS NOT NULL), '{}'::jsonb
            ) AS tags
        FROM public.generated_ads AS g
        INNER JOIN public.ad_runs AS r ON r.id = g.ad_run_id
        CROSS JOIN genome.element_dimensions AS d
        CROSS JOIN LATERAL (
            SELECT coalesce(
                CASE d.dimension
                    WHEN 'color_mode' THEN g.color_mode
                    WHEN 'canvas_size' THEN g.canvas_size
                    WHEN 'template_id' THEN g.template_id::text
                    WHEN 'prompt_version' THEN g.prompt_version
                END,
                g.prompt_spec ->> d.dimension,
                r.parameters ->> d.dimension
            ) AS raw
        ) AS src
        CROSS JOIN LATERAL (
            SELECT CASE
                WHEN d.kind = 'identifier' THEN to_jsonb(src.raw)
                ELSE to_jsonb(genome._try_resolve_value(d.dimension, src.raw))
            END AS val
        ) AS res
        WHERE g.element_tags_source IS NULL
          AND (g.element_tags IS NULL OR g.element_tags = '{}'::jsonb)
        GROUP BY g.id
    )
    UPDATE public.generated_ads AS g
    SET element_tags = derived.tags,
        element_tags_source = 'backfilled'
    FROM derived
    WHERE g.id = derived.id;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END
$$;
COMMENT ON FUNCTION genome._collect_rewards_backfill_tags() IS
'Internal (daily, inside collect_rewards): element_tags for V1 ads derived from their columns (color_mode, canvas_size, template_id, prompt_version), prompt_spec and ad_runs.parameters; values outside the registry are dropped, never invented. Marked element_tags_source = backfilled.';
