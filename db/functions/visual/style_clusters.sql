-- Style clusters of a brand's approved ads (docs/quality.md#visual-space), with their matured rewards.

CREATE OR REPLACE FUNCTION genome.style_clusters(p_brand_id uuid, p_now timestamptz DEFAULT now())
RETURNS TABLE (
    cluster_label integer,
    size integer,
    member_ad_ids uuid [],
    rewarded_n integer,
    mean_reward double precision,
    reward_ci_low double precision,
    reward_ci_high double precision,
    embedding_model text
)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public
AS $$
DECLARE
    v_eps double precision := genome._setting_num('style_cluster_eps');
    v_min_samples integer := genome._setting_num('style_cluster_min_samples')::integer;
    v_level double precision := genome._setting_num('style_cluster_ci_level');
    v_model text;
BEGIN
    PERFORM genome._require_now(p_now);
    PERFORM genome._require_brand(p_brand_id);
    IF NOT (v_eps > 0 AND v_eps <= 2) OR v_min_samples < 1 OR NOT (v_level > 0 AND v_level < 1) THEN
        RAISE EXCEPTION 'style cluster settings out of range: eps % (0-2], min_samples % (>= 1), ci_level % (0-1)',
            v_eps, v_min_samples, v_level
            USING ERRCODE = 'GN090';
    END IF;

    -- Only vectors of one model are comparable: the brand's most used model among its
    -- approved ads as of p_now.
    SELECT g.visual_embedding_model INTO v_model
    FROM public.generated_ads AS g
    INNER JOIN public.ad_runs AS r ON g.ad_run_id = r.id
    INNER JOIN public.products AS p ON r.product_id = p.id
    WHERE
        p.brand_id = p_brand_id
        AND g.final_status = 'approved'
        AND g.visual_embedding IS NOT NULL
        AND coalesce(g.decided_at, g.created_at) <= p_now
    GROUP BY g.visual_embedding_model
    ORDER BY count(*) DESC, g.visual_embedding_model
    LIMIT 1;

    -- A rerun for the same p_now replaces its result.
    DELETE FROM genome.style_clusters AS s WHERE s.brand_id = p_brand_id AND s.computed_at = p_now;

    WITH ads AS (
        SELECT g.id, g.visual_embedding
        FROM public.generated_ads AS g
        INNER JOIN public.ad_runs AS r ON g.ad_run_id = r.id
        INNER JOIN public.products AS p ON r.product_id = p.id
        WHERE
            p.brand_id = p_brand_id
            AND g.final_status = 'approved'
            AND g.visual_embedding_model = v_model
            AND g.visual_embedding IS NOT NULL
            AND coalesce(g.decided_at, g.created_at) <= p_now
    ),

    matrix AS (
        SELECT
            array_agg(a.id ORDER BY a.id) AS ids,
            array_agg(a.visual_embedding::real [] ORDER BY a.id) AS embeddings
        FROM ads AS a
        HAVING count(*) > 0
    ),

    labelled AS (
        SELECT u.ad_id, u.label
        FROM matrix AS mx
        CROSS JOIN LATERAL unnest(
            mx.ids, genome._dbscan_cosine(mx.embeddings, v_eps, v_min_samples)
        ) AS u (ad_id, label)
    ),

    grouped AS (
        SELECT
            l.label,
            count(*)::integer AS n_members,
            array_agg(l.ad_id ORDER BY l.ad_id) AS members,
            array_agg(w.reward_score) FILTER (WHERE w.reward_score IS NOT NULL) AS rewards
        FROM labelled AS l
        LEFT JOIN genome.creative_element_rewards AS w
            ON l.ad_id = w.generated_ad_id AND w.matured_at <= p_now
        GROUP BY l.label
    )

    INSERT INTO genome.style_clusters (
        brand_id, computed_at, cluster_label, size, member_ad_ids, mean_reward, reward_ci_low,
        reward_ci_high, embedding_model, rewarded_n
    )
    SELECT p_brand_id, p_now, gr.label, gr.n_members, gr.members, mi.mean, mi.ci_low, mi.ci_high, v_model, mi.n
    FROM grouped AS gr
    CROSS JOIN LATERAL genome._mean_interval(gr.rewards, v_level) AS mi;

    RETURN QUERY
    SELECT
        s.cluster_label, s.size, s.member_ad_ids, s.rewarded_n, s.mean_reward, s.reward_ci_low,
        s.reward_ci_high, s.embedding_model
    FROM genome.style_clusters AS s
    WHERE s.brand_id = p_brand_id AND s.computed_at = p_now
    ORDER BY s.cluster_label;
END
$$;
COMMENT ON FUNCTION genome.style_clusters(uuid, timestamptz) IS
'Style clusters of a brand (docs/quality.md#visual-space): DBSCAN (genome._dbscan_cosine, scikit-learn, cosine metric; settings style_cluster_eps as cosine distance and style_cluster_min_samples) over the embeddings of the brand''s approved ads decided by p_now, of the brand''s most used embedding model only. Per cluster: its members, size and the mean matured reward (creative_element_rewards matured by p_now) of the members that have one (rewarded_n) with a Student-t interval at settings style_cluster_ci_level (NULL below 2 rewards). Noise ads are one row with cluster_label -1; clusters are numbered 0, 1, ... largest first. Stored in genome.style_clusters at computed_at = p_now (a rerun for the same p_now replaces it) and returned ordered by label; no approved embedded ads gives no rows. Errors: GN004 NULL or infinite p_now; GN005 NULL brand; GN001 unknown brand; GN090 style cluster settings out of range.';
