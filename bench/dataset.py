"""The dataset `bench/api.py` measures against: 1,000,000 generations, 100,000 of them
for `bench-user` and the rest spread over 999 other users, 4 stage rows per generation,
5 projects per user, written by server-side SQL (`INSERT ... SELECT ... FROM
generate_series`). Titles and prompts are built from the word lists below, so a search
word hits a known share of them; statuses, scores, tags and timings are random in
fixed proportions."""

from __future__ import annotations

from collections.abc import Sequence

TOTAL = 1_000_000
BENCH_USER = "bench-user"
BENCH_ROWS = 100_000
OTHER_USERS = 999
PROJECTS_PER_USER = 5
SEARCH_WORD = "invoice"  # one of NOUNS: in about 2.5% of titles and prompts
# The prompt of the benchmark's creates: what a rerun deletes before it measures.
CREATE_PROMPT = "Book has title (text, required)."


def _words(text: str, separator: str | None = None) -> list[str]:
    return text.split(separator)


ADJECTIVES = _words(
    "shared personal internal public tiny secure async minimal offline realtime legacy "
    "modern simple scalable versioned audited cached distributed serverless friendly"
)
NOUNS = _words(
    "invoice library recipe inventory booking ticket garden warehouse playlist survey "
    "classroom clinic fleet expense payroll newsletter podcast museum parking kitchen gym "
    "hotel restaurant voting wiki forum bakery zoo tournament vineyard pharmacy courier "
    "laundry bicycle aquarium orchard observatory theater ferry greenhouse"
)
KINDS = _words("tracker service api catalog dashboard registry planner portal")
VERBS = _words("Build Create Generate Write Design Scaffold")
FIELDS = _words(
    "title,name,email,price,quantity,due date,status,rating,address,phone,notes,sku,"
    "capacity,author,isbn,start time,end time,category,weight,color,owner,deadline,score,"
    "description",
    ",",
)
TYPES = _words("text integer decimal date datetime boolean email url")
EXTRAS = [
    "Add pagination to every list.",
    "Users sign in with email and password.",
    "Expose a CSV export.",
    "Keep an audit log of every change.",
    "Soft-delete instead of deleting.",
    "Validate every input and return helpful errors.",
    "",
]


def _array(words: Sequence[str]) -> str:
    """A text[] literal of constant words (no quotes or backslashes in them)."""
    return "ARRAY[" + ",".join("'" + w.replace("'", "''") + "'" for w in words) + "]::text[]"


def _pick(words: Sequence[str]) -> str:
    return f"({_array(words)})[1 + floor(random() * {len(words)})::int]"


# Every layer is a subquery with volatile functions in its select list, so PostgreSQL
# evaluates each random() once per row (it does not inline such subqueries).
GENERATIONS_SQL = f"""
INSERT INTO generations (
    id, user_id, project_id, parent_id, root_id, iteration, title, prompt, template,
    variables, provider, model, status, stage, progress, quality_score, quality_report,
    error_code, error_message, cancel_reason, tags, metadata, metrics, workflow_id,
    last_event_id, created_at, updated_at, started_at, completed_at)
SELECT
    id, user_id, project_id, NULL, NULL, 0,
    CASE WHEN r_title < 0.97 THEN initcap(adjective) || ' ' || noun || ' ' || kind END,
    rtrim(format('%s a %s %s %s. A %s has %s (%s, required), %s (%s) and %s (%s). %s',
           verb, adjective, noun, kind, noun, f1, t1, f2, t2, f3, t3, extra)),
    CASE WHEN r_title < 0.3 THEN 'crud-api' END,
    '{{}}'::json, 'builtin', NULL, status,
    CASE status WHEN 'processing' THEN 'code_generation' WHEN 'failed' THEN 'code_review' END,
    CASE status WHEN 'completed' THEN 100 WHEN 'failed' THEN 55 WHEN 'pending' THEN 0
        ELSE 20 END,
    quality,
    CASE WHEN quality IS NOT NULL THEN json_build_object(
        'score', quality, 'compiles', true,
        'tests', json_build_object('passed', floor(quality / 10)::int, 'total', 10),
        'issues', '[]'::json) END,
    CASE WHEN status = 'failed' THEN 'stage_failed' END,
    CASE WHEN status = 'failed'
        THEN 'code_review failed after 3 attempts: the tests did not pass' END,
    CASE WHEN status = 'cancelled' THEN 'Cancelled by the user.' END,
    tags, '{{}}'::json,
    CASE WHEN status = 'completed'
        THEN json_build_object('tokens_in', tokens, 'tokens_out', tokens * 3)
        ELSE '{{}}'::json END,
    'gen-' || id, 0, created_at, coalesce(completed_at, started_at, created_at),
    started_at, completed_at
FROM (
    SELECT *,
        CASE WHEN status IN ('completed', 'failed') THEN least(started_at + run, now())
             WHEN status = 'cancelled' THEN least(started_at + run * 0.3, now())
        END AS completed_at
    FROM (
        SELECT *,
            CASE WHEN status <> 'pending' THEN created_at + queue END AS started_at,
            CASE WHEN status = 'completed'
                THEN round((100 * (1 - r_quality ^ 2))::numeric, 1)::float8 END AS quality
        FROM (
            SELECT *,
                CASE WHEN created_at > now() - interval '2 hours' THEN
                        CASE WHEN r_status < 0.3 THEN 'pending'
                             WHEN r_status < 0.6 THEN 'processing'
                             ELSE 'completed' END
                     WHEN r_status < 0.88 THEN 'completed'
                     WHEN r_status < 0.95 THEN 'failed'
                     ELSE 'cancelled' END AS status
            FROM (
                SELECT gen_random_uuid() AS id, user_id,
                    CASE WHEN random() < 0.9 THEN md5(
                        user_id || ':project:' || floor(random() * {PROJECTS_PER_USER})::int
                    )::uuid::text END AS project_id,
                    now() - random() * interval '60 days' AS created_at,
                    random() AS r_status, random() AS r_quality, random() AS r_title,
                    make_interval(secs => 0.02 + random() * 0.5) AS queue,
                    make_interval(secs => 4 + 56 * random() ^ 2) AS run,
                    (200 + random() * 3000)::int AS tokens,
                    to_jsonb(array_remove(ARRAY[
                        CASE WHEN random() < 0.25 THEN 'api' END,
                        CASE WHEN random() < 0.15 THEN 'cli' END,
                        CASE WHEN random() < 0.10 THEN 'demo' END,
                        CASE WHEN random() < 0.30
                            THEN 'x' || (1 + floor(random() * 9)::int) END
                    ], NULL)) AS tags,
                    {_pick(VERBS)} AS verb, {_pick(ADJECTIVES)} AS adjective,
                    {_pick(NOUNS)} AS noun, {_pick(KINDS)} AS kind,
                    {_pick(FIELDS)} AS f1, {_pick(TYPES)} AS t1,
                    {_pick(FIELDS)} AS f2, {_pick(TYPES)} AS t2,
                    {_pick(FIELDS)} AS f3, {_pick(TYPES)} AS t3,
                    {_pick(EXTRAS)} AS extra
                FROM (
                    SELECT n, CASE WHEN n <= $1 THEN '{BENCH_USER}'
                        ELSE 'user-' || lpad((1 + n % {OTHER_USERS})::text, 3, '0') END
                        AS user_id
                    FROM generate_series(1, $2) AS n
                ) AS base
            ) AS a
        ) AS b
    ) AS c
) AS d
ORDER BY created_at
"""

# `begun` stages have started: all 4 of a completed generation, 3 of a failed one (the
# review failed), 2 of a processing one (generation running), 1 of a cancelled one.
# The run time (started_at to completed_at, or now) is split between them by weight.
STAGES_SQL = """
INSERT INTO generation_stages (
    generation_id, name, position, status, attempts, started_at, ended_at, duration_ms, error)
SELECT id, name, position,
    CASE WHEN position < begun - 1 THEN 'completed'
         WHEN position = begun - 1 THEN CASE status WHEN 'failed' THEN 'failed'
             WHEN 'processing' THEN 'running' ELSE 'completed' END
         WHEN status IN ('failed', 'cancelled') THEN 'skipped'
         ELSE 'pending' END,
    CASE WHEN position = begun - 1 AND status = 'failed' THEN 3
         WHEN position < begun THEN 1 ELSE 0 END,
    CASE WHEN position < begun THEN started_at + span * (lo / top) END,
    CASE WHEN ended THEN started_at + span * (hi / top) END,
    CASE WHEN ended THEN round(extract(epoch FROM span) * 1000 * (hi - lo) / top)::int END,
    CASE WHEN position = begun - 1 AND status = 'failed' THEN 'the tests did not pass' END
FROM (
    SELECT *,
        position < begun AND NOT (position = begun - 1 AND status = 'processing') AS ended,
        (ARRAY[0.15, 0.60, 0.88, 1.0]::float8[])[begun] AS top
    FROM (
        SELECT g.id, g.status, g.started_at, s.name, s.position, s.lo, s.hi,
            CASE g.status WHEN 'completed' THEN 4 WHEN 'failed' THEN 3
                WHEN 'processing' THEN 2 WHEN 'cancelled' THEN 1 ELSE 0 END AS begun,
            coalesce(g.completed_at, now()) - g.started_at AS span
        FROM generations AS g
        CROSS JOIN (VALUES
            ('schema_extraction', 0, 0.0::float8, 0.15::float8),
            ('code_generation', 1, 0.15, 0.60),
            ('code_review', 2, 0.60, 0.88),
            ('documentation', 3, 0.88, 1.0)
        ) AS s (name, position, lo, hi)
    ) AS joined
) AS x
"""

# The durations the read model copies onto each generation when a stage or the run
# completes (statistics read them from one covering index).
DURATIONS_SQL = """
UPDATE generations AS g SET
    run_ms = CASE WHEN g.completed_at IS NOT NULL
        THEN (extract(epoch FROM g.completed_at - g.started_at) * 1000)::int END,
    schema_extraction_ms = d.schema_extraction,
    code_generation_ms = d.code_generation,
    code_review_ms = d.code_review,
    documentation_ms = d.documentation
FROM (
    SELECT generation_id,
        max(duration_ms) FILTER (WHERE name = 'schema_extraction'
            AND status = 'completed') AS schema_extraction,
        max(duration_ms) FILTER (WHERE name = 'code_generation'
            AND status = 'completed') AS code_generation,
        max(duration_ms) FILTER (WHERE name = 'code_review'
            AND status = 'completed') AS code_review,
        max(duration_ms) FILTER (WHERE name = 'documentation'
            AND status = 'completed') AS documentation
    FROM generation_stages GROUP BY generation_id
) AS d
WHERE d.generation_id = g.id
"""

PROJECTS_SQL = f"""
INSERT INTO projects (id, user_id, name, description, created_at)
SELECT md5(u.user_id || ':project:' || k)::uuid, u.user_id,
    initcap(({_array(NOUNS)})[1 + (k * 7 + length(u.user_id)) % {len(NOUNS)}]) || ' project '
        || k,
    CASE WHEN k % 2 = 0 THEN 'Seeded by bench/api.py.' END,
    now() - interval '61 days' + k * interval '1 day'
FROM (
    SELECT '{BENCH_USER}' AS user_id
    UNION ALL
    SELECT 'user-' || lpad(i::text, 3, '0') FROM generate_series(1, {OTHER_USERS}) AS i
) AS u
CROSS JOIN generate_series(0, {PROJECTS_PER_USER - 1}) AS k
"""
