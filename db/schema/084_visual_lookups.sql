-- The review agent describes and embeds an image to find its nearest exemplars before the ad
-- has an embedding of its own. Kept here, the second opinion and the embed stage reuse it
-- instead of paying for the same describe and embedding calls again.
CREATE TABLE genome.ad_visual_lookups (
    generated_ad_id uuid PRIMARY KEY REFERENCES public.generated_ads (id) ON DELETE CASCADE,
    visual_descriptor jsonb NOT NULL CHECK (jsonb_typeof(visual_descriptor) = 'object'),
    visual_embedding vector(1536) NOT NULL,
    embedding_model text NOT NULL CHECK (btrim(embedding_model) <> ''),
    agent_job_id uuid REFERENCES genome.agent_jobs (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE genome.ad_visual_lookups IS
'The visual descriptor and embedding that a review agent made of an ad''s image to look up its nearest exemplars (genome.review_exemplars), before the embed stage. One row per ad: the second opinion looks up with it again, and the embed stage of an approved ad stores it as the ad''s own (genome.record_embedding_from_lookup) without new model calls.';
COMMENT ON COLUMN genome.ad_visual_lookups.agent_job_id IS
'The review or second_opinion job whose agent made the descriptor and embedding.';

-- review_exemplars gained p_descriptor (functions are re-created after the migrations).
DROP FUNCTION IF EXISTS genome.review_exemplars(uuid, text, vector, text, integer);
