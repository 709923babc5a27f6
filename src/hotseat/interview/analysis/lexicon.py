"""Word lists for the matcher and the claim extractor (English; Korean is matched as written)."""

from __future__ import annotations

from typing import Final


def _words(text: str) -> list[str]:
    return text.split()


# Words that carry no meaning of their own in an answer or an assessment point; the point-text
# verbs ("describes", "explains"...) are here because every point starts with one.
STOPWORDS: Final = frozenset(
    _words(
        """
        a about above after again against all also am an and any are as at be because been before being
        below between both but by can could did do does doing down during each even ever every few for
        from further had has have having he her here hers him his how i if in into is it its itself just
        let like me might more most much must my myself no nor not now of off on once only or other our
        ours out over own really same she should so some such than that the their theirs them then there
        these they this those through to too under until up upon us very was we were what when where
        which while who whom why will with within without would you your yours yourself um uh yeah okay
        ok basically actually kind sort thing things stuff lot lots get got make made way well one two
        also maybe pretty quite describes describe explains explain names name discusses discuss
        considers consider mentions mention knows know uses use shows show identifies identify addresses
        address offers offer sets set treats treat handles handle covers cover focuses focus prioritises
        prioritise distinguishes distinguish proposes propose understands understand weighs weigh
        verified verify defines define breaks break keeps keep communicates communicate is clear clearly
        such as real concrete specific example
        """
    )
)

# Verbs that make "I ..." or "we ..." an account of something done.
ACTION_VERBS: Final = frozenset(
    _words(
        """
        built build led lead wrote write ran run cut made shipped ship designed design added add moved
        found set put took fixed fix measured measure profiled profile rolled roll migrated migrate
        split rewrote rewrite introduced introduce owned own launched launch reduced reduce replaced
        replace started start paged page traced trace tested test deployed deploy wrapped wrap would
        will use used chose choose decided decide proposed propose pushed push asked ask told tell
        agreed agree sat spent spend learned learn read reviewed review benchmarked benchmark dropped
        drop changed change kept keep caught catch noticed notice checked check mentored mentor hired
        hire coached coach
        """
    )
)

NUMBER_WORDS: Final = frozenset(
    _words(
        """
        two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty hundred
        hundreds thousand thousands million millions billion twice half double doubled tripled percent
        dozen dozens
        """
    )
)

# Stems of words that report a result.
OUTCOME_WORDS: Final = frozenset(
    _words(
        """
        reduc cut drop improv increas decreas save faster slower halv doubl result outcom latenc p99 p95
        p50 percent throughput error fewer less lower higher went fell rose down won resolv fix recov
        """
    )
)

# Named technologies and practices, lower-case, matched as whole words.
TECH_TERMS: Final = frozenset(
    _words(
        """
        postgres postgresql mysql sqlite oracle mongodb mongo redis memcached kafka rabbitmq sqs sns
        kinesis pubsub nats cassandra dynamodb elasticsearch opensearch clickhouse snowflake bigquery
        spark flink airflow dbt kubernetes k8s docker terraform ansible helm istio envoy nginx haproxy
        grpc graphql rest http https tcp tls oauth jwt saml openapi swagger protobuf json yaml avro
        python go golang java kotlin scala rust ruby rails django flask fastapi node nodejs typescript
        javascript react vue angular swift c# dotnet php perl bash linux aws gcp azure lambda s3 ec2 rds
        cloudfront cloudflare datadog prometheus grafana sentry pagerduty opsgenie jaeger opentelemetry
        splunk kibana honeycomb newrelic jenkins github gitlab circleci argocd spinnaker launchdarkly
        jira confluence slack stripe twilio sendgrid okta auth0 celery sidekiq resque cron etl cdc
        debezium pgbouncer vitess citus timescaledb influxdb hadoop hdfs hive presto trino redshift
        athena glue sagemaker pytorch tensorflow pandas numpy ci cd sql nosql api sdk cdn dns vpc iam
        sla slo sli p99 p95 p50 qps rps
        """
    )
)

# Words (not stems: the matcher stems them) that place an answer at work: an answer with none of
# these, no named technology and no term from the candidate's CV is about something else (a flat
# they did not buy, a holiday), however well its sentences match a point's shape ("I'd have ...
# instead").
WORK_WORDS: Final = frozenset(
    _words(
        """
        work working job role team teammate colleague coworker peer manager boss lead leader director
        engineer engineering developer design product project company employer business client customer
        user merchant partner vendor stakeholder organisation organization department firm startup
        office hire hiring interview onboarding mentor review code codebase system service platform app
        application feature bug incident outage release deploy deployment launch migration rollout
        infrastructure database server pipeline test testing sprint roadmap deadline meeting standup
        requirement spec document architecture api data query schema cluster network security
        performance scale support ticket on-call oncall pager contract budget revenue cost sales
        marketing metric kpi okr quarter ship delivery deliver feedback promotion career position
        intern internship task priority
        """
    )
)

# Everyday words that a question or a CV line may use but that place nothing at work ("the year",
# "instead", "look back"): left out when the question's words count as context (matcher).
GENERIC_WORDS: Final = frozenset(
    _words(
        """
        year month week day hour minute second time times back go going went look looking take took use
        used new old first next last end move moved change changed better best good bad great honest
        instead since way thing things lot kind people person make made get got want need feel think
        know say said tell told see saw give gave come came keep kept start started stop stopped try
        tried long short big small high low hard easy right wrong real really still even ever never
        always often everything something anything nothing one two three four five six seven eight
        nine ten hundred thousand strong well much many more most less least part whole same different
        """
    )
)


# Words and phrases that make a sentence vague rather than a report of what happened: hedges
# ("maybe", "or something"), habits and generalities ("I always", "whenever", "everyone"), filler
# nouns ("stuff", "things like"). Such a sentence is weaker evidence and never concrete, whatever
# names it drops ("maybe use GraphQL", "a distributed lock with Redis or something").
VAGUE_PHRASES: Final = (
    "maybe",
    "i think",
    "really",
    "or something",
    "sort of",
    "kind of",
    "i guess",
    "probably",
    "stuff",
    "things like",
    "always",
    "usually",
    "whenever",
    "generally",
    "typically",
    "in general",
    "everyone",
    "everything",
    "properly",
    "best practices",
    "at the end of the day",
)
