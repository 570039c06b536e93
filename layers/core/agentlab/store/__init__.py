"""DynamoDB and S3 access.

One table, single-table design. Keys (all strings):

entity              PK                        SK                    GSI1PK / GSI2PK / GSI3PK (SK: RUN#<run>)
------------------  ------------------------  --------------------  -------------------------------------------
org                 ORG#<org>                 META
API key             APIKEY#<sha256 of key>    META                  GSI1: ORG#<org>#APIKEYS (GSI1SK: <key id>)
agent (current)     ORG#<org>                 AGENT#<agent>
agent name marker   ORG#<org>                 AGENTNAME#<name>
agent version       ORG#<org>#AGENT#<agent>   VERSION#<%08d>
run                 ORG#<org>                 RUN#<run>             GSI1: ORG#<org>#AGENT#<agent>
                                                                    GSI2: ORG#<org>#THREAD#<thread>
                                                                    GSI3: ORG#<org>#STATUS#<status>
step                ORG#<org>#RUN#<run>       STEP#<%08d seq>
message             ORG#<org>#RUN#<run>       MSG#<%06d seq>
approval token      ORG#<org>#RUN#<run>       APPROVAL
artifact            ORG#<org>#RUN#<run>       ARTIFACT#<artifact>
file                ORG#<org>                 FILE#<file>
idempotency key     ORG#<org>                 IDEMPOTENCY#<sha256>
schedule            ORG#<org>                 SCHEDULE#<schedule>
schedule fire       ORG#<org>#SCHEDULE#<id>   FIRE#<scheduled time, UTC>
schedule outcome    ORG#<org>#SCHEDULE#<id>   OUTCOME#<run>         (a run's end counted once)
schedule index      SCHEDULES#INDEX           <org>#<schedule>      (every schedule, for the ticker and janitor)
webhook endpoint    ORG#<org>                 WEBHOOK#<webhook>
webhook delivery    ORG#<org>#WEBHOOK#<id>    DELIVERY#<delivery>
webhook event mark  ORG#<org>#WEBHOOK#<id>    EVENT#<event id>      (one delivery per endpoint and event)
run meter           ORG#<org>#RUN#<run>       METER                 (Lambda milliseconds and invocations)
usage roll-up       ORG#<org>                 USAGE#<dimension>#<day>#<key>
usage run marker    ORG#<org>                 USAGERUN#<run>        (a run rolled up once)
monthly budget      ORG#<org>                 USAGE_BUDGET
budget alert        ORG#<org>                 USAGEALERT#<yyyy-mm>#<percent>

Every key of a tenant's object starts with its org, so every query is keyed by the caller's org. Ids are ULIDs,
so sort keys order by creation time. Items carry a `revision` (agents: `version`) and every update is a conditional
write on it: a lost update is impossible. The `entity` attribute names the kind of item. `expires_at` (epoch
seconds) is the table's TTL attribute.

S3 keys: `orgs/<org>/files/<file>` for uploads, `orgs/<org>/runs/<run>/artifacts/<artifact>/<name>` for artifacts.
"""
