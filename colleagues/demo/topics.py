"""What each demo colleague knows: systems, questions they answer, procedures, incidents.

Pure data. Templates may use these slots, filled by `colleagues.demo.writing`:

- people: ``{@asker}`` ``{@owner}`` ``{@someone}`` ``{@manager}`` ``{@<person key>}``
- places: ``{#<channel name>}``, ``{link}`` (one of the author's links), ``{pr_link}``
- values: ``{system}`` ``{n}`` ``{nn}`` ``{pct}`` ``{ver}`` ``{ticket}`` ``{pr}`` ``{day}``
  ``{time}`` ``{dur}`` ``{month}``

No template here contains anyone's pet phrase (`colleagues.demo.company`) nor a private
channel's canary phrase outside `PRIVATE_THREADS`; the tests check both.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Procedure:
    """A numbered procedure a person follows for one of their systems."""

    title: str  # completes "Here's how I ...": "rotate the billing API keys"
    question: str  # how a colleague asks for it
    steps: tuple[str, ...]
    note: str  # the caution that comes with it


@dataclass(frozen=True)
class Incident:
    """An incident on a person's system, told as alert, symptom, cause, fix and follow-up."""

    alert: str
    symptom: str
    cause: str
    fix: str
    followup: str


@dataclass(frozen=True)
class Expertise:
    """A person's systems and what they say about them."""

    systems: tuple[str, ...]  # owned systems, as they are named in messages
    keywords: tuple[str, ...]
    home: str  # the channel where their systems are discussed
    ticket: str  # ticket prefix: "PAY" -> PAY-1234
    repo: str  # for review links
    links: tuple[tuple[str, str], ...]  # (url, label)
    qa: tuple[tuple[str, str], ...]  # (question a colleague asks, the person's answer)
    facts: tuple[str, ...]  # status updates, things worth knowing
    decisions: tuple[tuple[str, str], ...]  # (what was decided, why)
    procedures: tuple[Procedure, ...]
    incidents: tuple[Incident, ...] = ()
    reviews: tuple[str, ...] = ()  # review comments they leave
    review_intro: str = "Left a few comments on {@asker}'s {pr_link}:"
    handover: tuple[str, ...] = ()  # notes before leaving (departed people)
    zh: tuple[str, ...] = ()  # Simplified Chinese / mixed lines (bilingual people)


WIKI = "https://wiki.northwind.example"
GIT = "https://git.northwind.example"

EXPERTISE: dict[str, Expertise] = {
    "helen": Expertise(
        systems=("company OKRs", "board deck"),
        keywords=("strategy", "OKRs", "board", "fundraising", "company update", "priorities"),
        home="general",
        ticket="EXEC",
        repo="exec/planning",
        links=(
            (f"{WIKI}/company/okrs-2025", "2025 company OKRs"),
            (f"{WIKI}/company/all-hands", "all-hands notes"),
        ),
        qa=(
            (
                "how do team OKRs roll up into the company OKRs this year?",
                "Each department picks at most three objectives that map to one of the four "
                "company OKRs. If yours doesn't map, that's a conversation with me, not a reason "
                "to invent a fifth. I review the roll-up every quarter before the board deck "
                "goes out.",
            ),
            (
                "when is the next board meeting and what do you need from us?",
                "The board meets on the second Thursday after quarter end. I need every "
                "department's numbers in the board deck template by the Monday before, with one "
                "slide of risks, not excuses.",
            ),
            (
                "are we still hiring in Q3 given the budget?",
                "Yes, but only the roles already in the plan. Anything new needs a business case "
                "against the company OKRs and goes through Grace and me.",
            ),
            (
                "can we share the board deck with the wider team?",
                "The summary, yes, I'll post it after the meeting. The full board deck stays "
                "with the leadership group because it has customer names and cash numbers in it.",
            ),
        ),
        facts=(
            "The company OKRs for next quarter are published: {link}. Four objectives, same "
            "as last quarter, with sharper key results.",
            "We closed the quarter at {nn}% of the revenue target and grew active robots in the "
            "field by {pct}%. Details in the board deck summary.",
            "All-hands is on {day} at {time}. I'll cover the company OKRs, hiring, and the "
            "roadmap for the fleet dashboard.",
            "Thank you to everyone who stayed late for the customer launch this week. The "
            "feedback from the pilot sites has been excellent.",
            "Reminder: the board deck draft is due to me by {day}. Please use the template, "
            "not last quarter's file.",
        ),
        decisions=(
            (
                "we will keep the company OKRs to four objectives",
                "every time we had six, nobody could remember them and nothing got done",
            ),
            (
                "the board deck will show churned customers by name",
                "the board asked for it and hiding bad news only delays the hard conversations",
            ),
        ),
        procedures=(
            Procedure(
                title="put together the quarterly board deck",
                question="what's the process for the board deck each quarter?",
                steps=(
                    "Copy the board deck template from the leadership drive, never last "
                    "quarter's file.",
                    "Each department head fills in their two slides by the Monday before the "
                    "meeting.",
                    "Olivia's team checks every number against the metrics layer.",
                    "I write the narrative and the asks on Tuesday.",
                    "Rafael and Chloe review on Wednesday; the deck goes to the board on Thursday "
                    "morning.",
                ),
                note="Numbers that don't match the metrics layer get pulled, no exceptions.",
            ),
        ),
        reviews=(
            "the story is good but slide 4 needs the number first and the explanation second",
            "please cut this to one page; the board reads the first paragraph only",
            "this goal isn't measurable yet, what would we count?",
        ),
        review_intro="Read through {@asker}'s draft for the company OKRs:",
    ),
    "rafael": Expertise(
        systems=("RFC process", "tech radar"),
        keywords=("architecture", "RFC", "tech radar", "engineering strategy", "build vs buy"),
        home="engineering",
        ticket="ENG",
        repo="engineering/rfcs",
        links=(
            (f"{WIKI}/engineering/rfc-process", "RFC process"),
            (f"{WIKI}/engineering/tech-radar", "tech radar"),
        ),
        qa=(
            (
                "does this change need an RFC or can I just open a PR?",
                "If it changes an interface another team depends on, adds a new datastore, or "
                "costs more than a sprint, it goes through the RFC process. Otherwise open the PR "
                "and link the design notes in the description. When in doubt, write the one-page "
                "version and I'll tell you within a day.",
            ),
            (
                "is Kafka on the tech radar as adopt or trial?",
                "Trial, still. The event pipeline uses it well, but we haven't proven we can "
                "operate it with the on-call we have. I'll revisit it at the next tech radar "
                "review in {month}.",
            ),
            (
                "who approves an RFC once the comments settle?",
                "The RFC process has two approvers: the owning team's lead and me. If a third "
                "team is affected, their lead too. Silence after five working days counts as no "
                "objection, not as approval.",
            ),
            (
                "should we build our own feature flag service?",
                "No. We buy that one. The tech radar lists it under hold for in-house builds; "
                "the maintenance cost is always larger than it looks.",
            ),
        ),
        facts=(
            "I've published the new tech radar: {link}. Moved Argo CD to adopt and our "
            "home-grown cron scheduler to hold.",
            "Three RFCs are waiting for reviewers this week. If you were tagged in the RFC "
            "process tracker, please comment by {day}.",
            "Architecture review is on {day} at {time}; agenda is the event pipeline and the "
            "billing-svc split.",
            "From next month every RFC must include a rollback plan. The template in the RFC "
            "process page now has that section.",
        ),
        decisions=(
            (
                "we will stay on one Postgres cluster per domain instead of one per service",
                "we don't have the people to operate thirty databases well, and the coupling "
                "risk is manageable with schemas and roles",
            ),
            (
                "Rust is off the tech radar for new services for now",
                "two people can maintain it today and one of them is me",
            ),
            (
                "the RFC process gets a one-page option for small changes",
                "people were skipping it, since the full template felt like homework",
            ),
        ),
        procedures=(
            Procedure(
                title="run an RFC through the RFC process",
                question="what are the actual steps for an RFC?",
                steps=(
                    "Copy the template from the RFC process page and fill in problem, options "
                    "and the rollback plan.",
                    "Open it as a PR in engineering/rfcs and post the link in {#engineering}.",
                    "Tag the owning team's lead and every team whose interface changes.",
                    "Give it five working days for comments; answer every one in the doc.",
                    "Bring open disagreements to architecture review.",
                    "Merge with the decision and the date in the header.",
                ),
                note="An RFC without a rollback plan goes back to the author.",
            ),
        ),
        reviews=(
            "the options section only has one real option, show me the ones you rejected",
            "what happens to in-flight requests during the migration?",
            "I'd like a rough cost estimate before we commit to this",
        ),
        review_intro="Read {@asker}'s RFC ({pr_link}). A few questions:",
    ),
    "marcus": Expertise(
        systems=("PagerDuty rotation", "incident process", "change calendar"),
        keywords=("on-call", "incidents", "PagerDuty", "SLOs", "change management", "platform"),
        home="incidents",
        ticket="PLAT",
        repo="platform/incident-tooling",
        links=(
            (f"{WIKI}/platform/incident-process", "incident process"),
            (f"{WIKI}/platform/change-calendar", "change calendar"),
        ),
        qa=(
            (
                "who's on the PagerDuty rotation this week?",
                "Primary is in the PagerDuty rotation schedule, linked in the channel topic. "
                "Swaps go in the schedule, not in DMs.",
            ),
            (
                "do I need to declare an incident for a staging outage?",
                "No. The incident process is for customer impact or data risk. Staging goes in "
                "{#platform}.",
            ),
            (
                "can I deploy during the freeze if it's a one-line fix?",
                "Only with an entry in the change calendar and a second approver. One-line fixes "
                "caused two of our last five incidents.",
            ),
            (
                "how do I get added to the PagerDuty rotation?",
                "Shadow two weeks first, then I add you. Ping me when you've done the shadow "
                "shifts.",
            ),
        ),
        facts=(
            "PagerDuty rotation for next month is published. Check your shifts.",
            "Incident review {day} at {time}. Two incidents, both with action items overdue.",
            "Change calendar is frozen from the 28th to the 2nd for month end.",
            "New rule: every SEV1 gets a postmortem within five working days. Incident process "
            "page updated.",
            "Paging volume down {pct}% this quarter. Good work on the alert cleanup.",
        ),
        decisions=(
            (
                "SEV2s no longer page at night",
                "nobody acted on them before morning anyway",
            ),
            (
                "the change calendar is mandatory for prod changes",
                "half our incidents started with a change nobody knew about",
            ),
        ),
        procedures=(
            Procedure(
                title="run an incident under the incident process",
                question="what's the order of things when I'm incident commander?",
                steps=(
                    "Declare it in {#incidents} with severity and a one-line summary.",
                    "Pick a scribe. You coordinate, you don't debug.",
                    "Update every 30 minutes, even if nothing changed.",
                    "Mitigate first, root cause later.",
                    "Close it in PagerDuty and schedule the review.",
                ),
                note="If you're unsure about severity, pick the higher one.",
            ),
        ),
        reviews=(
            "no alert without an owner field",
            "this page fires on a symptom nobody can act on, drop it",
            "needs a timeout",
        ),
    ),
    "priya": Expertise(
        systems=("nw-prod-eks", "infra-live"),
        keywords=("kubernetes", "EKS", "terraform", "node groups", "cluster upgrades", "IAM"),
        home="platform",
        ticket="PLAT",
        repo="platform/infra-live",
        links=(
            (f"{WIKI}/platform/eks-upgrade-runbook", "eks upgrade runbook"),
            (f"{GIT}/platform/infra-live", "infra-live repo"),
        ),
        qa=(
            (
                "can I get a new namespace on nw-prod-eks for the fleet-api?",
                "yes, but through infra-live, not kubectl. add it to namespaces.tf in the "
                "prod/eks module and tag me on the PR. quota defaults are 4 cpu / 8Gi.",
            ),
            (
                "why is the terraform plan for infra-live showing changes nobody made?",
                "someone clicked in the console. the plan is right, the console is wrong. "
                "apply it and find out who, because it will happen again.",
            ),
            (
                "when is nw-prod-eks going to 1.29?",
                "staging first on {day}, prod the week after if nothing breaks. the deprecated "
                "API scan is clean except two helm charts, I'm on those.",
            ),
            (
                "how do I get access to the prod cluster?",
                "read-only via the eks-readers group, ask in {#platform}. write access to "
                "nw-prod-eks is platform on-call only, everything else goes through argo.",
            ),
            (
                "our pods keep getting evicted on nw-prod-eks, any idea?",
                "your requests are way below what you actually use, so the node runs out of "
                "memory and you're first to go. set requests to your p95, limits a bit above.",
            ),
        ),
        facts=(
            "nw-prod-eks node groups are now on the new AMI, rolled {n} nodes at a time, no "
            "restarts needed on your side.",
            "infra-live has a new module for RDS, please stop copy-pasting the old one.",
            "upgraded staging to {ver}, all workloads healthy. prod next week.",
            "terraform state for infra-live moved to the new S3 bucket with locking, pull "
            "before you plan.",
            "spot node group on nw-prod-eks saved us {pct}% on compute last month.",
        ),
        decisions=(
            (
                "no more manual changes in the AWS console for prod",
                "drift in infra-live cost us two days in the last incident",
            ),
            (
                "we're keeping one nw-prod-eks cluster instead of one per team",
                "upgrades times ten is not something three people can do",
            ),
        ),
        procedures=(
            Procedure(
                title="upgrade nw-prod-eks",
                question="what are the steps for a cluster upgrade?",
                steps=(
                    "run the deprecated API scan against the cluster and fix every hit.",
                    "bump the version in infra-live for staging, plan, apply.",
                    "upgrade the managed add-ons (vpc-cni, coredns, kube-proxy) to the "
                    "matching versions.",
                    "roll node groups one at a time with max unavailable 1.",
                    "soak staging for 48 hours, then repeat for nw-prod-eks in the change window.",
                    "update the version table in the eks upgrade runbook.",
                ),
                note="never upgrade the control plane and the nodes in the same window.",
            ),
            Procedure(
                title="add a namespace to nw-prod-eks",
                question="what do I do to get a namespace set up properly?",
                steps=(
                    "add the namespace to namespaces.tf in infra-live with team and cost-center "
                    "labels.",
                    "add resource quotas and the default network policy.",
                    "open a PR, platform approves, atlantis applies.",
                    "register the namespace in argo cd.",
                ),
                note="namespaces without labels get deleted by the janitor job.",
            ),
        ),
        incidents=(
            Incident(
                alert="[TRIGGERED] nw-prod-eks: 3 nodes NotReady in eu-west-1b",
                symptom="three nodes in eu-west-1b went NotReady, pods rescheduling",
                cause="the AZ had an EBS issue and the node group couldn't attach volumes",
                fix="cordoned the zone, scaled the node group in the other two AZs",
                followup="I'll add a zone-spread check to infra-live so this can't pile up "
                "in one AZ again",
            ),
            Incident(
                alert="[TRIGGERED] nw-prod-eks: coredns error rate high",
                symptom="DNS lookups inside nw-prod-eks timing out for about {pct}% of pods",
                cause="coredns was at 2 replicas after the upgrade and got saturated",
                fix="scaled coredns to 6 and enabled the autoscaler for it",
                followup="adding coredns replicas to the upgrade checklist",
            ),
        ),
        reviews=(
            "this security group opens 0.0.0.0/0, scope it to the VPC",
            "please pin the provider version",
            "put this in a module, it's the third copy",
        ),
        handover=(
            "infra-live state is in the S3 bucket nw-tfstate with DynamoDB locking; never "
            "force-unlock while atlantis is running.",
            "nw-prod-eks upgrades: the eks upgrade runbook is current up to {ver}, the version "
            "table is at the bottom.",
            "the break-glass admin role for nw-prod-eks is in 1Password under platform, it "
            "needs two approvers.",
            "atlantis runs as the infra-live-ci role; if plans fail with AccessDenied it's "
            "usually the role's session duration.",
            "the janitor job deletes unlabelled namespaces every Sunday, keep it, it saved us "
            "money.",
        ),
    ),
    "tom": Expertise(
        systems=("shipyard", "GitHub Actions runners", "Argo CD"),
        keywords=("CI/CD", "deploys", "pipelines", "build caching", "release process"),
        home="platform",
        ticket="PLAT",
        repo="platform/shipyard",
        links=(
            (f"{GIT}/platform/shipyard", "shipyard repo"),
            (f"{WIKI}/platform/deploying-with-shipyard", "deploying with shipyard"),
        ),
        qa=(
            (
                "why is my build waiting for a runner for 20 minutes?",
                "The GitHub Actions runners pool scales on queue depth and we hit the max at 40. "
                "I've raised it to 60 for now. If it keeps happening, I'll move your repo to the "
                "large runner group.",
            ),
            (
                "how do I roll back a deploy in shipyard?",
                "`shipyard rollback <service> --to <version>`. It just re-syncs Argo CD to the "
                "previous image tag, so it takes about a minute. No need to revert the PR first.",
            ),
            (
                "can shipyard deploy to staging automatically on merge?",
                "Yes, add `auto_deploy: staging` to your shipyard.yaml. Prod stays a button "
                "press on purpose.",
            ),
            (
                "Argo CD says my app is out of sync but nothing changed?",
                "Someone probably edited the deployment by hand. Argo CD will revert it on the "
                "next sync. Check the diff in the UI first so you know what they changed.",
            ),
        ),
        facts=(
            "shipyard {ver} is out: deploys now post to the service's channel with the diff link.",
            "GitHub Actions runners now cache Docker layers, builds are about {pct}% faster.",
            "Argo CD upgraded to {ver}, no action needed.",
            "Heads up: shipyard will refuse prod deploys without a green build from now on.",
            "Moved the last three services from Jenkins to GitHub Actions runners. Jenkins "
            "goes read-only on {day}.",
        ),
        decisions=(
            (
                "shipyard deploys go through Argo CD instead of running kubectl itself",
                "one path to prod means one place to audit and roll back",
            ),
            (
                "we keep self-hosted GitHub Actions runners instead of the hosted ones",
                "our builds need the internal registry and the hosted minutes would cost three "
                "times as much",
            ),
        ),
        procedures=(
            Procedure(
                title="onboard a service to shipyard",
                question="how do I get my new service onto shipyard?",
                steps=(
                    "Add a shipyard.yaml to the repo root (copy the one from fleet-api).",
                    "Create the Argo CD application with `shipyard init <service>`.",
                    "Make sure the GitHub Actions workflow pushes the image tag shipyard expects.",
                    "Do a staging deploy and check the channel notification.",
                    "Ask me to enable prod.",
                ),
                note="Services without health checks can't be enabled for prod.",
            ),
        ),
        incidents=(
            Incident(
                alert="[TRIGGERED] shipyard: deploy queue stuck > 15 min",
                symptom="shipyard deploys are stuck in pending",
                cause="Argo CD's repo server ran out of memory rendering a huge helm chart",
                fix="bumped the repo server memory and restarted it, queue drained",
                followup="I'll add a memory alert on the Argo CD repo server",
            ),
        ),
        reviews=(
            "can we cache the node_modules here?",
            "this step runs on every push, move it to merge only",
            "nice, but please add the job to the required checks",
        ),
    ),
    "wei": Expertise(
        systems=("Prometheus", "Grafana", "on-call runbooks"),
        keywords=("observability", "alerting", "dashboards", "SLOs", "runbooks", "metrics"),
        home="platform",
        ticket="PLAT",
        repo="platform/nw-observability",
        links=(
            (f"{WIKI}/platform/oncall-runbooks", "on-call runbooks"),
            ("https://grafana.northwind.example/d/slo-overview", "SLO overview dashboard"),
        ),
        qa=(
            (
                "how do I add an alert for my service?",
                "Add the rule to the nw-observability repo under alerts/<team>/. Every alert "
                "needs a runbook_url label pointing at the on-call runbooks, and CI will fail "
                "without it. Then it's picked up by Prometheus within 5 minutes.",
            ),
            (
                "the Grafana dashboard for checkout shows no data since this morning?",
                "The Prometheus scrape config changed with the new namespace labels. I fixed "
                "the dashboard variables, it should show data again. Refresh it.",
            ),
            (
                "how long do we keep metrics?",
                "15 days in Prometheus, 13 months downsampled in long-term storage. Grafana "
                "switches automatically when you pick a long range.",
            ),
            (
                "where are the on-call runbooks for payments?",
                "In the on-call runbooks space on the wiki, under Payments: {link}. The "
                "billing-svc one was written by Dana, it's the best one we have.",
            ),
        ),
        facts=(
            "Prometheus upgraded to {ver}. Query performance is better for long ranges.",
            "New Grafana dashboard for SLO burn rates: {link}",
            "I cleaned up {nn} alerts that had no runbook. The on-call runbooks index is up "
            "to date now.",
            "Prometheus storage is at {pct}% of the disk, I'll resize it on {day}.",
            "Grafana will be down for {dur} on {day} for the upgrade.",
        ),
        decisions=(
            (
                "every alert must link to one of the on-call runbooks",
                "people get paged at 3am and need to know what to do, not just what broke",
            ),
            (
                "we use recording rules for all SLO queries in Prometheus",
                "the raw queries were too slow for the Grafana dashboards",
            ),
        ),
        procedures=(
            Procedure(
                title="write one of the on-call runbooks",
                question="is there a template for writing a runbook?",
                steps=(
                    "Copy the template from the on-call runbooks space.",
                    "Describe what the alert means in one sentence.",
                    "List the first three checks with the exact Grafana panel links.",
                    "Write the mitigation steps, with commands.",
                    "Say who to escalate to and when.",
                    "Add the runbook_url label to the alert in Prometheus.",
                ),
                note="If you can't write the mitigation, the alert should not page.",
            ),
        ),
        incidents=(
            Incident(
                alert="[TRIGGERED] Prometheus: TSDB compaction failing",
                symptom="Prometheus is failing compaction, disk usage climbing",
                cause="a new label with user ids exploded the cardinality",
                fix="dropped the label with a relabel rule and restarted Prometheus",
                followup="I'll add a cardinality limit per scrape job",
            ),
        ),
        reviews=(
            "this alert needs a runbook_url label",
            "please use a recording rule, this query is too heavy for Grafana",
            "for: 1m is too short, it will flap",
        ),
        zh=(
            "告警规则已经更新了，Prometheus 的 recording rules 在 nw-observability repo 里。",
            "Grafana 的 dashboard 我改了一下，p99 latency 现在按 service 分组。",
            "on-call runbooks 都放在 wiki 上了，链接在频道 topic 里。",
            "昨晚的告警是误报，阈值太低了，我已经调到 {pct}%。",
            "下周二 Prometheus 升级到 {ver}，预计中断 {dur}。",
            "请大家检查一下自己服务的 SLO dashboard，有问题找我。",
            "这个 alert 没有 runbook_url，CI 会失败，请先补上。",
            "Prometheus 磁盘快满了，我今天扩容。",
            "新的 Grafana 面板已经上线：{link}",
            "我刚看了一下，这个服务的 error budget 已经用了 {pct}%。",
        ),
    ),
    "dana": Expertise(
        systems=("billing-svc", "billing API keys", "invoice-runner"),
        keywords=(
            "billing",
            "invoices",
            "PayStream",
            "API keys",
            "key rotation",
            "Vault",
            "proration",
        ),
        home="payments",
        ticket="PAY",
        repo="payments/billing-svc",
        links=(
            (f"{WIKI}/payments/billing-key-rotation", "billing key rotation runbook"),
            (f"{GIT}/payments/billing-svc", "billing-svc repo"),
        ),
        qa=(
            (
                "how often do we rotate the billing API keys?",
                "Every 90 days, and immediately if a key shows up anywhere it shouldn't. The "
                "reminder is on the payments calendar and the last rotation is logged in "
                "{ticket}. The rotation itself takes about twenty minutes if nobody is deploying "
                "billing-svc at the same time.",
            ),
            (
                "where does billing-svc read the PayStream key from?",
                "From Vault, at secret/payments/billing-svc/paystream, never from env files. "
                "billing-svc re-reads it on SIGHUP, so a rotation doesn't need a full restart. "
                "If you ever see one of the billing API keys in a .env file, tell me and we "
                "rotate that same day.",
            ),
            (
                "why did invoice-runner skip some customers last night?",
                "It skips any account whose billing-svc sync is older than 24 hours, on purpose. "
                "I would rather send an invoice a day late than send a wrong one. They get picked "
                "up by the catch-up run at 06:00 UTC.",
            ),
            (
                "can we give a prorated credit to a customer who downgraded mid-cycle?",
                "Yes, billing-svc handles proration, but only through the admin endpoint, never "
                "by editing the invoice row. Use POST /admin/credits with the reason field "
                "filled in, because finance reconciles on that field.",
            ),
            (
                "is it safe to deploy billing-svc on the first of the month?",
                "No. invoice-runner does the monthly run between 00:00 and 04:00 UTC on the "
                "first, and we freeze billing-svc deploys from the last business day until the "
                "run is reconciled. Ask {@lucia} to confirm the reconciliation before anyone "
                "unfreezes.",
            ),
            (
                "who has access to the PayStream dashboard?",
                "Only the payments on-call and me, through the shared vault with hardware keys. "
                "Access requests go through {ticket} with {@samuel}'s approval, and they expire "
                "after 30 days.",
            ),
        ),
        facts=(
            "billing-svc now has a dual-key window: both the old and the new PayStream key are "
            "accepted for {dur} during a rotation, so nothing fails mid-request.",
            "invoice-runner finished the monthly run in {nn} minutes and all {nn}0 invoices "
            "reconciled against the ledger.",
            "I've moved the billing-svc webhook secret into Vault as well, so nothing "
            "billing-related lives in env files any more.",
            "billing-svc {ver} goes out today. It changes how proration rounds: half-up to the "
            "cent instead of banker's rounding.",
            "The billing API keys were rotated this morning ({ticket}). The old key is revoked "
            "at PayStream and the Vault version is bumped.",
            "Reminder that billing-svc deploys are frozen from the last business day of the "
            "month until invoice-runner is reconciled.",
        ),
        decisions=(
            (
                "we are keeping invoice-runner as a nightly batch instead of moving it to events",
                "a batch is boring and easy to re-run from a checkpoint, and finance reconciles "
                "per day anyway",
            ),
            (
                "billing-svc will only accept restricted PayStream keys from now on",
                "a leaked full-access key could issue payouts, whereas a restricted one can only "
                "charge and refund",
            ),
            (
                "proration rounds half-up to the cent from the next release",
                "it matches what PayStream shows customers, so support stops getting the "
                "one-cent tickets",
            ),
        ),
        procedures=(
            Procedure(
                title="rotate the billing API keys",
                question="how do you rotate the billing API keys?",
                steps=(
                    "Announce the rotation in {#payments} and check the change calendar for any "
                    "billing-svc deploys.",
                    "Create the new restricted key in the PayStream dashboard with the same "
                    "scopes as the current one (charges, refunds, customers; never full access).",
                    "Write it to Vault at secret/payments/billing-svc/paystream as a new "
                    "version, and do not delete the old version.",
                    "Send SIGHUP to billing-svc and watch the dual-key window metric until every "
                    "pod reports the new key id.",
                    "Run the smoke test: a 1 EUR charge and refund against the test customer "
                    "acct_nw_smoke.",
                    "Revoke the old key in PayStream, then record the date and both key ids in "
                    "the rotation ticket.",
                ),
                note="Never revoke the old key before every pod has picked up the new one; "
                "that is exactly how we took down checkout in 2024.",
            ),
            Procedure(
                title="re-run invoice-runner for a single account",
                question="how do I re-run invoicing for just one customer?",
                steps=(
                    "Check the account's last sync time in billing-svc; if it's older than 24 "
                    "hours, trigger a sync first.",
                    "Run invoice-runner with --account <id> --dry-run and compare the totals "
                    "with the ledger.",
                    "Run it again without --dry-run.",
                    "Post the invoice id in the ticket so finance can reconcile it.",
                ),
                note="Never run it for a single account while the monthly run is in progress.",
            ),
        ),
        incidents=(
            Incident(
                alert="[TRIGGERED] billing-svc 5xx rate > 5% (prod)",
                symptom="billing-svc is returning 500s on /invoices, about {pct}% of requests",
                cause="the PayStream key in Vault was rotated but two pods were still on the "
                "cached old key because the SIGHUP handler did not fire",
                fix="restarted the two stale pods and the errors are back to zero",
                followup="I'll add a readiness check on the key id and write this up with "
                "{@samuel}",
            ),
            Incident(
                alert="[TRIGGERED] invoice-runner: monthly run failed",
                symptom="invoice-runner died halfway through the monthly run",
                cause="one customer with {nn} thousand line items blew through the job's memory "
                "limit",
                fix="raised the job memory to 2Gi and re-ran from the checkpoint, no duplicate "
                "invoices",
                followup="I'll paginate line items in invoice-runner so one big account can't "
                "do this again",
            ),
        ),
        reviews=(
            "please don't log the request body here, it contains card fingerprints",
            "this needs an idempotency key on the charge call, otherwise a retry double-charges",
            "can we keep the amount in minor units as an integer rather than a float?",
        ),
        handover=(
            "The billing API keys are due for rotation again in March; the steps are in the "
            "rotation runbook and {@lucia} has done it with me twice.",
            "Vault path for the PayStream key is secret/payments/billing-svc/paystream; never "
            "delete old versions, revoke at PayStream instead.",
            "invoice-runner's checkpoint lives in the invoice_runs table; to resume, pass "
            "--resume <run id>, never start a fresh run on the first of the month.",
            "The smoke-test customer is acct_nw_smoke; its card is the PayStream test card "
            "and it is excluded from the revenue reports.",
            "PayStream's account manager is Nadia Petrova; she needs two weeks' notice for any "
            "scope change on the billing API keys.",
            "billing-svc on-call alerts and their runbooks are linked from the billing-svc "
            "README; the dual-key window metric is the one to watch.",
        ),
    ),
    "samuel": Expertise(
        systems=("PCI DSS audit", "payments roadmap"),
        keywords=("payments", "PCI DSS", "compliance", "roadmap", "team planning", "vendors"),
        home="payments",
        ticket="PAY",
        repo="payments/roadmap",
        links=(
            (f"{WIKI}/payments/roadmap", "payments roadmap"),
            (f"{WIKI}/payments/pci-dss", "PCI DSS evidence tracker"),
        ),
        qa=(
            (
                "when is the PCI DSS audit this year?",
                "The PCI DSS audit fieldwork is in {month}. I need evidence for every control two "
                "weeks before, so please check the rows with your name in the tracker.",
            ),
            (
                "is the multi-currency work on the payments roadmap for this quarter?",
                "It's on the payments roadmap for next quarter. This quarter is reliability and "
                "the PCI DSS audit; we can't do both well.",
            ),
            (
                "who should I talk to about a refund edge case?",
                "{@lucia} owns the refunds flow. If it changes card handling, it's also in scope "
                "for the PCI DSS audit, so loop me in.",
            ),
            (
                "can payments take on the new partner integration?",
                "Not before the PCI DSS audit. I'll put it on the payments roadmap for review "
                "and get back to you with a date.",
            ),
        ),
        facts=(
            "Payments roadmap for the quarter is updated: {link}",
            "PCI DSS audit evidence is {pct}% collected. Thanks everyone.",
            "Team retro on {day}. First item: what the payments roadmap should drop to make "
            "room for the audit.",
            "We passed the PCI DSS audit with no major findings. Well done, team.",
            "I'll be out on {day}; {@kenji} is the point of contact for payments.",
        ),
        decisions=(
            (
                "the multi-currency project moves to next quarter on the payments roadmap",
                "the PCI DSS audit needs the same people and failing it would stop us taking cards",
            ),
            (
                "we keep PayStream as our only processor for now",
                "a second processor doubles the PCI DSS scope and we don't have volume to "
                "justify it",
            ),
        ),
        procedures=(
            Procedure(
                title="prepare the PCI DSS audit evidence",
                question="what do I need to do for the PCI DSS audit?",
                steps=(
                    "Find your rows in the PCI DSS evidence tracker.",
                    "Collect screenshots or exports for each control, dated within the audit "
                    "period.",
                    "Upload them to the audit folder with the control number in the file name.",
                    "Mark the row as ready and tag me.",
                ),
                note="Evidence without a date gets rejected by the auditors.",
            ),
        ),
        reviews=(
            "can we add a line on customer impact to the summary?",
            "please link the ticket so finance can follow",
            "looks good, just make sure it's recorded as PCI DSS audit evidence",
        ),
        review_intro="Read through {@asker}'s proposal ({pr_link}):",
    ),
    "lucia": Expertise(
        systems=("ledger-recon", "refunds flow"),
        keywords=("ledger", "reconciliation", "refunds", "finance", "month end", "chargebacks"),
        home="payments",
        ticket="PAY",
        repo="payments/ledger-recon",
        links=(
            (f"{GIT}/payments/ledger-recon", "ledger-recon repo"),
            (f"{WIKI}/payments/refunds-flow", "refunds flow doc"),
        ),
        qa=(
            (
                "why does ledger-recon show a mismatch for yesterday?",
                "Two refunds settled after the cut-off. ledger-recon picks them up tomorrow. "
                "Nothing to fix.",
            ),
            (
                "can support trigger a partial refund?",
                "Yes, from the admin panel. The refunds flow caps support at 200 EUR; above "
                "that it needs a payments engineer.",
            ),
            (
                "how long does a refund take to reach the customer?",
                "The refunds flow sends it to PayStream instantly, then 5 to 10 business days "
                "at the bank. We can't speed that up.",
            ),
            (
                "ledger-recon failed this morning, should I worry?",
                "Only if it fails twice. It retries at 09:00. If the retry fails too, page me.",
            ),
        ),
        facts=(
            "ledger-recon is green for the month. All {nn}0 transactions matched.",
            "Refunds flow now records the support agent on every refund.",
            "ledger-recon runs at 07:00 UTC from {day}, one hour earlier.",
            "Chargebacks are now visible in ledger-recon as their own category.",
            "Month-end close done. ledger-recon matched to the cent.",
        ),
        decisions=(
            (
                "ledger-recon fails loudly on any mismatch above 1 cent",
                "small mismatches hid a bug for three months last year",
            ),
            (
                "refunds over 200 EUR need a payments engineer",
                "that's where all the fraud was",
            ),
        ),
        procedures=(
            Procedure(
                title="close the month in ledger-recon",
                question="what's the month-end process for the ledger?",
                steps=(
                    "Wait for invoice-runner to finish the monthly run.",
                    "Run ledger-recon for the full month.",
                    "Investigate every mismatch above 1 cent.",
                    "Export the report and send it to finance.",
                    "Unfreeze billing-svc deploys in the change calendar.",
                ),
                note="Don't unfreeze before finance confirms.",
            ),
        ),
        incidents=(
            Incident(
                alert="[TRIGGERED] ledger-recon: mismatch above threshold",
                symptom="ledger-recon reports {nn} mismatched transactions",
                cause="PayStream sent duplicate settlement events",
                fix="deduplicated on the settlement id and re-ran ledger-recon",
                followup="I'll make ledger-recon dedupe on settlement id by default",
            ),
        ),
        reviews=(
            "amounts in cents please",
            "what happens if the refund fails at PayStream?",
            "needs a test for partial refunds",
        ),
    ),
    "kenji": Expertise(
        systems=("webhook-gateway", "riskwall"),
        keywords=("webhooks", "fraud", "risk rules", "retries", "signatures", "idempotency keys"),
        home="payments",
        ticket="PAY",
        repo="payments/webhook-gateway",
        links=(
            (f"{GIT}/payments/webhook-gateway", "webhook-gateway repo"),
            (f"{WIKI}/payments/riskwall-rules", "riskwall rules"),
        ),
        qa=(
            (
                "are PayStream webhooks retried if we're down?",
                "Yes. PayStream retries for 3 days. webhook-gateway dedupes on event id, so "
                "replays are safe.",
            ),
            (
                "why did riskwall block this order?",
                "Rule R12, velocity: 4 cards in 10 minutes from one device. Working as intended.",
            ),
            (
                "can we add a riskwall exception for a pilot customer?",
                "Allowlist by customer id, expires in 30 days. Ticket with {ticket} prefix, "
                "Samuel approves.",
            ),
            (
                "webhook-gateway is returning 401s to PayStream?",
                "Signature check failing. Usually a rotated signing secret. Checking Vault.",
            ),
        ),
        facts=(
            "webhook-gateway {ver} deployed. Signature checks now use constant-time compare.",
            "riskwall blocked {nn} fraudulent orders last week, false positive rate {pct}%.",
            "New riskwall rule R{nn} in shadow mode until {day}.",
            "webhook-gateway dead-letter queue is empty again.",
            "Replayed {nn} webhooks from the DLQ, all processed.",
            "riskwall rule R{nn} promoted from shadow mode. Blocking from today.",
        ),
        decisions=(
            (
                "new riskwall rules run in shadow mode for a week first",
                "R7 blocked real customers for a day",
            ),
            (
                "webhook-gateway acks fast and processes async",
                "PayStream times out after 10 seconds",
            ),
        ),
        procedures=(
            Procedure(
                title="replay webhooks from the DLQ",
                question="how do I replay failed webhooks?",
                steps=(
                    "Check the DLQ size in Grafana.",
                    "Fix the cause first.",
                    "Run `gateway-cli replay --since <time>`.",
                    "Watch the processed counter.",
                ),
                note="Replays are safe because of event id dedupe.",
            ),
        ),
        incidents=(
            Incident(
                alert="[TRIGGERED] webhook-gateway: signature failures > 50/min",
                symptom="webhook-gateway rejecting PayStream webhooks with 401",
                cause="the signing secret was rotated at PayStream but not in Vault",
                fix="updated the secret in Vault, replayed the DLQ",
                followup="adding an alert on signature failures rate",
            ),
        ),
        reviews=(
            "retry without backoff",
            "needs an idempotency key",
            "what if the event arrives twice?",
        ),
    ),
    "olivia": Expertise(
        systems=("metrics layer", "data governance policy"),
        keywords=("metrics", "data governance", "PII", "KPIs", "analytics", "data quality"),
        home="data",
        ticket="DATA",
        repo="data/metrics-layer",
        links=(
            (f"{WIKI}/data/metrics-catalogue", "metrics catalogue"),
            (f"{WIKI}/data/governance", "data governance policy"),
        ),
        qa=(
            (
                "which number is right for active robots, the dashboard or the sales report?",
                "The metrics layer is the reference. The sales report counts robots shipped, "
                "not robots that reported telemetry in the last 7 days, which is our definition "
                "of active. I've asked Chloe's team to switch the report to the metrics layer "
                "so we stop having this conversation every quarter.",
            ),
            (
                "can I export customer emails for a campaign?",
                "Not directly. Under the data governance policy, customer contact data is PII "
                "and leaves the warehouse only through the approved marketing sync, which "
                "respects consent flags. I'm happy to help you set that up properly.",
            ),
            (
                "how do I add a new KPI to the metrics layer?",
                "Write the definition first: the grain, the filters, the owner and the question "
                "it answers. Then open a PR in the metrics layer repo and I'll review the "
                "definition before anyone reviews the SQL.",
            ),
            (
                "who can get access to the raw event data?",
                "The data team and named analysts, after the data governance policy training. "
                "Everyone else works from the modelled tables, which have PII removed.",
            ),
        ),
        facts=(
            "The metrics layer now covers {nn} KPIs, each with an owner and a written "
            "definition: {link}",
            "I've updated the data governance policy: retention for raw telemetry is now 13 "
            "months, after which it is aggregated.",
            "Quarterly data quality review is on {day}. The main topic is late telemetry from "
            "the pilot sites.",
            "From next month, board numbers come exclusively from the metrics layer.",
            "The PII scan found {n} columns without a classification; owners have been "
            "notified under the data governance policy.",
        ),
        decisions=(
            (
                "the board deck uses only metrics layer numbers",
                "we spent two meetings reconciling three versions of revenue",
            ),
            (
                "we will not buy a second BI tool",
                "two tools would give us two sets of definitions, and the metrics layer exists "
                "precisely to prevent that",
            ),
        ),
        procedures=(
            Procedure(
                title="handle a data access request under the data governance policy",
                question="what's the process when someone asks for access to PII?",
                steps=(
                    "Ask for the purpose and the exact fields, in writing.",
                    "Check whether the modelled tables already answer the question.",
                    "If PII is genuinely needed, the requester completes the governance training.",
                    "Grant time-limited access through the warehouse role, never a shared login.",
                    "Record the grant and its expiry in the access register.",
                ),
                note="Access without an expiry date is a finding in every audit.",
            ),
        ),
        reviews=(
            "what is the grain of this table? I can't tell from the name",
            "this metric needs an owner before it goes into the metrics layer",
            "please avoid selecting email here; it's PII and this model is widely shared",
        ),
        review_intro="Reviewed {@asker}'s change to the metrics definitions ({pr_link}):",
    ),
    "arjun": Expertise(
        systems=("Snowflake warehouse", "nw-dbt"),
        keywords=("dbt", "data warehouse", "Snowflake", "SQL", "data models", "freshness tests"),
        home="data",
        ticket="DATA",
        repo="data/nw-dbt",
        links=(
            (f"{GIT}/data/nw-dbt", "nw-dbt repo"),
            (f"{WIKI}/data/dbt-conventions", "dbt conventions"),
        ),
        qa=(
            (
                "why is the revenue model in nw-dbt so slow?",
                "It's a full refresh every night over five years of invoices. I'm switching it to "
                "incremental on invoice date, should drop from 40 minutes to about 3.",
            ),
            (
                "which schema in the Snowflake warehouse should I query?",
                "Always analytics.*, never raw.* or staging.*. Raw changes shape whenever a "
                "source changes; analytics is what nw-dbt guarantees.",
            ),
            (
                "can I add a model to nw-dbt myself?",
                "Yes! Follow the dbt conventions page: staging model per source, then marts. "
                "Add a unique and not_null test on the key and tag me for review.",
            ),
            (
                "the Snowflake warehouse bill jumped this month, any idea why?",
                "Someone ran a dashboard on an XL warehouse with auto-suspend off. I've set "
                "auto-suspend to 60 seconds on every Snowflake warehouse and capped the BI one "
                "at M.",
            ),
        ),
        facts=(
            "nw-dbt nightly run finished in {nn} minutes, all {nn}0 tests passing.",
            "Added freshness tests to every source in nw-dbt; stale sources now fail the run.",
            "The Snowflake warehouse credits are down {pct}% since we moved the big models to "
            "incremental.",
            "New mart in nw-dbt: fct_robot_uptime, documented here: {link}",
            "Upgraded nw-dbt to dbt {ver}, please pull before your next run.",
        ),
        decisions=(
            (
                "every nw-dbt model needs a primary key test",
                "we shipped duplicated revenue to the board once and I never want to again",
            ),
            (
                "BI tools only read from the analytics schema in the Snowflake warehouse",
                "so we can refactor staging without breaking dashboards",
            ),
        ),
        procedures=(
            Procedure(
                title="add a new source to nw-dbt",
                question="what are the steps to add a new source to the warehouse models?",
                steps=(
                    "Declare the source in sources.yml with a freshness threshold.",
                    "Create a staging model that only renames and casts.",
                    "Add unique and not_null tests on the primary key.",
                    "Build the mart on top of staging, never on raw.",
                    "Run `dbt build --select +your_model` locally against the dev warehouse.",
                    "Open a PR and tag the data team.",
                ),
                note="No mart should ever select from raw directly.",
            ),
        ),
        incidents=(
            Incident(
                alert="[TRIGGERED] nw-dbt nightly run failed",
                symptom="the nw-dbt nightly run failed, dashboards are showing yesterday's data",
                cause="the CRM source added a column with a reserved word as its name",
                fix="quoted the column in the staging model and re-ran the failed models",
                followup="I'll add schema change detection on the CRM source",
            ),
        ),
        reviews=(
            "can this be incremental?",
            "please move this logic into the staging model",
            "missing a unique test on the key",
        ),
        handover=(
            "nw-dbt runs nightly at 02:00 UTC from the Airflow DAG dbt_nightly; {@mei} knows "
            "the DAG.",
            "Snowflake warehouse roles: TRANSFORMER for dbt, REPORTER for BI, never grant "
            "SYSADMIN to a person.",
            "The revenue models are incremental on invoice_date with a 3-day lookback; do a "
            "full refresh only at month end if finance asks.",
            "dbt conventions page is up to date; the staging/marts split is the one rule not "
            "to break.",
            "Snowflake warehouse auto-suspend is 60 seconds everywhere; the BI warehouse is "
            "capped at size M.",
        ),
    ),
    "mei": Expertise(
        systems=("Airflow", "event-pipeline"),
        keywords=("pipelines", "Airflow", "Kafka", "ingestion", "backfills", "telemetry"),
        home="data",
        ticket="DATA",
        repo="data/airflow-dags",
        links=(
            ("https://airflow.northwind.example/home", "airflow ui"),
            (f"{GIT}/data/event-pipeline", "event-pipeline repo"),
        ),
        qa=(
            (
                "is the telemetry data late today?",
                "yes, the event-pipeline consumer lagged overnight after the Kafka broker "
                "restart. it's catching up, should be current by noon.",
            ),
            (
                "how do I backfill a DAG in Airflow?",
                "clear the task instances for the date range in the Airflow UI, or run "
                "`airflow dags backfill -s <start> -e <end> <dag>`. check with me first if it's "
                "more than a month, it hammers the warehouse.",
            ),
            (
                "where does the robot telemetry land?",
                "robots send to the ingest API, the event-pipeline writes to Kafka, then to S3 "
                "as parquet every 5 minutes, then Airflow loads it to the warehouse hourly.",
            ),
            (
                "can we add a new event type to the event-pipeline?",
                "yes, register the schema in the schema registry first, otherwise the consumer "
                "drops it. send me the schema and I'll review.",
            ),
        ),
        facts=(
            "Airflow upgraded to {ver}, all DAGs migrated.",
            "event-pipeline lag is back to under a minute.",
            "backfilled telemetry for {n} days, the robot uptime numbers are complete now.",
            "new Airflow DAG for the CRM sync, runs every {n} hours.",
            "event-pipeline now handles {nn}k events per second at peak.",
        ),
        decisions=(
            (
                "Airflow only orchestrates, no heavy processing inside tasks",
                "the workers kept running out of memory",
            ),
            (
                "the event-pipeline writes parquet every 5 minutes instead of every minute",
                "the small files were killing query performance",
            ),
        ),
        procedures=(
            Procedure(
                title="recover the event-pipeline after a Kafka outage",
                question="what do we do when the event-pipeline falls behind?",
                steps=(
                    "check consumer lag in Grafana.",
                    "scale the consumer to 6 replicas.",
                    "wait for the lag to drop under a minute.",
                    "scale back to 3.",
                    "trigger the Airflow load DAG for the affected hours.",
                ),
                note="don't reset offsets, we lose data.",
            ),
        ),
        incidents=(
            Incident(
                alert="[TRIGGERED] event-pipeline: consumer lag > 30 min",
                symptom="event-pipeline consumer lag is over 30 minutes",
                cause="a malformed event from a robot firmware beta crashed the consumer in a loop",
                fix="skipped the bad offset into the dead-letter topic and restarted",
                followup="I'll make the consumer send bad events to the DLQ instead of crashing",
            ),
        ),
        reviews=(
            "can this task be idempotent?",
            "please set retries on this Airflow task",
            "this will load the whole table every hour",
        ),
    ),
    "grace": Expertise(
        systems=("salary bands", "performance review cycle"),
        keywords=(
            "people",
            "compensation",
            "performance reviews",
            "benefits",
            "policies",
            "onboarding",
        ),
        home="general",
        ticket="PEOPLE",
        repo="people/handbook",
        links=(
            (f"{WIKI}/people/handbook", "employee handbook"),
            (f"{WIKI}/people/performance-review-cycle", "performance review cycle guide"),
        ),
        qa=(
            (
                "when does the performance review cycle start this year?",
                "Self-reviews open on the first of {month} and close two weeks later. Managers "
                "then have two weeks for their reviews, and calibration follows. The whole "
                "performance review cycle is described here: {link}",
            ),
            (
                "where can I see the salary bands for my level?",
                "Every employee can see the salary bands for their own job family and level in "
                "the HR system, under Compensation. If something looks wrong, come and talk to me "
                "directly; I would much rather hear about it early.",
            ),
            (
                "how much parental leave do we offer?",
                "Twenty weeks fully paid for every parent, regardless of how they became a "
                "parent. The details and the form are in the employee handbook.",
            ),
            (
                "can I carry over holiday into next year?",
                "Up to five days, to be used by the end of March. Anything beyond that needs a "
                "conversation with your manager and with me.",
            ),
        ),
        facts=(
            "The performance review cycle opens on {day}. Please block an hour for your "
            "self-review; the guide is here: {link}",
            "We have refreshed the salary bands against market data for the coming year. "
            "Managers will walk their teams through the changes.",
            "Welcome to our {n} new starters this month! Please say hello in {#random}.",
            "The employee handbook now includes our updated remote working policy.",
            "Benefits enrolment closes on {day}. Reach out if you have any questions at all.",
            "If you have questions about where you sit in the salary bands, book time with me; "
            "the salary bands FAQ is in the employee handbook: {link}",
        ),
        decisions=(
            (
                "we will publish the salary bands to every employee",
                "transparency builds trust, and it makes pay conversations fairer for people "
                "who are less comfortable negotiating",
            ),
            (
                "calibration will happen before managers share ratings",
                "it keeps ratings consistent across teams and avoids walking anything back",
            ),
        ),
        procedures=(
            Procedure(
                title="run the performance review cycle",
                question="what does a manager need to do during the review cycle?",
                steps=(
                    "Make sure each of your reports has submitted their self-review.",
                    "Collect peer feedback from at least two colleagues per report.",
                    "Write your review with concrete examples, not adjectives.",
                    "Bring your proposed ratings to calibration.",
                    "Hold the review conversation within two weeks of calibration.",
                ),
                note="No rating is shared with anyone before calibration is complete.",
            ),
        ),
        reviews=(
            "could we soften the wording in the second paragraph?",
            "please add who people can contact if they have questions",
            "this needs to go past legal before it goes out",
        ),
        review_intro="I've read {@asker}'s draft policy ({pr_link}):",
    ),
    "ben": Expertise(
        systems=("Greenhouse", "interview loops"),
        keywords=("hiring", "recruiting", "interviews", "candidates", "job descriptions", "offers"),
        home="hiring",
        ticket="PEOPLE",
        repo="people/hiring",
        links=(
            (f"{WIKI}/people/hiring-playbook", "hiring playbook"),
            ("https://greenhouse.northwind.example/jobs", "open roles in Greenhouse"),
        ),
        qa=(
            (
                "how do I submit interview feedback?",
                "Scorecard in Greenhouse within 24 hours of the interview! Write evidence, not "
                "vibes. The recommendation goes last.",
            ),
            (
                "what does the interview loop for backend engineers look like?",
                "Screen with me, then a take-home or a pairing session (their choice), then the "
                "onsite: system design, code review, and a values interview. Four interview "
                "loops a week max per interviewer.",
            ),
            (
                "can we skip the take-home for a referral?",
                "No, same interview loops for everyone. Referrals skip the screen only.",
            ),
            (
                "how do I open a new role in Greenhouse?",
                "Send me the job description and the approved headcount ticket. I set up the "
                "job in Greenhouse and the interview loops with you.",
            ),
        ),
        facts=(
            "{nn} applications for the backend role this week! Screens booked through {day}.",
            "New Greenhouse scorecard template for engineering is live.",
            "Offer accepted for the data engineer role! Start date in {month}.",
            "Reminder: scorecards in Greenhouse within 24 hours. {n} are overdue.",
            "Interview training on {day} at {time}, required before joining interview loops.",
        ),
        decisions=(
            (
                "every candidate gets the same interview loops for a role",
                "it's the only way to compare people fairly",
            ),
            (
                "we give candidates a choice between take-home and pairing",
                "people with caring responsibilities were dropping out of the take-home",
            ),
        ),
        procedures=(
            Procedure(
                title="run a hiring debrief",
                question="how do you run the debrief after an onsite?",
                steps=(
                    "Everyone submits their Greenhouse scorecard before the debrief.",
                    "Nobody shares their vote before reading their evidence.",
                    "The hiring manager decides; I make sure dissent is heard.",
                    "Decision and reasons go into Greenhouse the same day.",
                ),
                note="No scorecard, no seat in the debrief.",
            ),
        ),
        reviews=(
            "this job description lists 12 requirements, pick the 5 that matter",
            "the scorecard says 'not a culture fit', what did they actually do?",
            "please add the salary range to the posting",
        ),
        review_intro="Went through {@asker}'s draft job description ({pr_link}):",
        handover=(
            "All open roles are in Greenhouse with their interview loops configured; the "
            "hiring playbook has the rest.",
            "The agency contract with HireWell renews in {month}; Tariq is our contact there.",
            "Interviewer training slides are in the People drive, the next session is due in "
            "{month}.",
            "Three candidates are mid-process; notes for each are in Greenhouse.",
        ),
    ),
    "chloe": Expertise(
        systems=("discount desk", "sales forecast"),
        keywords=("sales", "pipeline", "pricing", "discounts", "forecast", "deals", "renewals"),
        home="sales",
        ticket="SALES",
        repo="sales/pricing",
        links=(
            (f"{WIKI}/sales/discount-policy", "discount policy"),
            ("https://crm.northwind.example/forecast", "sales forecast"),
        ),
        qa=(
            (
                "can I offer 25% off on a three-year deal?",
                "Up to 20% you can approve yourself. 25% goes through the discount desk with "
                "a short business case!",
            ),
            (
                "when is the sales forecast due?",
                "Every Monday by noon, in the CRM. I roll up the sales forecast for Helen on "
                "Monday afternoon.",
            ),
            (
                "does the discount desk meet this week?",
                "Thursday at 3pm as always! Add your deal to the discount desk sheet by Wednesday.",
            ),
            (
                "how do we price the fleet dashboard add-on?",
                "Per robot per month, list price 12 EUR. Bundles go through the discount desk.",
            ),
        ),
        facts=(
            "Closed {n} new deals this week! Pipeline is at {nn}0k.",
            "Q{n} sales forecast submitted. We're tracking at {nn}% of target.",
            "Discount desk approved {n} deals on Thursday.",
            "New pricing page is live for the fleet dashboard add-on!",
            "Renewal rate this quarter: {nn}%.",
        ),
        decisions=(
            (
                "all discounts above 20% go through the discount desk",
                "our average discount crept up to 31% last year",
            ),
            (
                "the sales forecast uses the CRM stage, not gut feeling",
                "we missed the quarter by 20% on gut feeling",
            ),
        ),
        procedures=(
            Procedure(
                title="get a deal through the discount desk",
                question="how does the discount desk process work?",
                steps=(
                    "Add the deal to the discount desk sheet by Wednesday.",
                    "Write two lines on why the discount wins the deal.",
                    "Attach the competitor quote if there is one.",
                    "Present it on Thursday in five minutes.",
                ),
                note="No business case, no discount.",
            ),
        ),
        reviews=(
            "lead with the customer's problem, not our features",
            "where is the next step and the date?",
            "price looks right, get it to the discount desk",
        ),
        review_intro="Looked at {@asker}'s proposal ({pr_link}):",
    ),
    "ryan": Expertise(
        systems=("demo environment", "security questionnaires"),
        keywords=(
            "pre-sales",
            "demos",
            "RFPs",
            "security questionnaires",
            "customer calls",
            "integrations",
        ),
        home="sales",
        ticket="SALES",
        repo="sales/demo-env",
        links=(
            ("https://demo.northwind.example", "demo environment"),
            (f"{WIKI}/sales/security-questionnaire-answers", "security questionnaire answers"),
        ),
        qa=(
            (
                "is the demo environment up? I have a call at 2",
                "Yes, it's up. I reset the demo environment data this morning, so the fleet has "
                "the nice-looking numbers again.",
            ),
            (
                "a prospect sent a 200-question security questionnaire, help?",
                "Send it over. About 80% maps to our standard security questionnaires answers in "
                "the library; I'll draft the rest with Marcus and Samuel.",
            ),
            (
                "can the demo environment show the new fleet dashboard?",
                "Not yet, it's on the old build. I'll upgrade the demo environment on {day}.",
            ),
            (
                "do we support SSO for customers?",
                "Yes, SAML and OIDC. It's answered in the security questionnaires library, "
                "section 4.",
            ),
        ),
        facts=(
            "Demo environment reset to fresh data, ready for this week's calls.",
            "Updated the security questionnaires library with our new PCI DSS status.",
            "Finished the Globex security questionnaire, {nn} questions, sent today.",
            "Demo environment upgraded to {ver}, new dashboard included.",
            "Recorded a walkthrough of the demo environment for new AEs: {link}",
        ),
        decisions=(
            (
                "the demo environment resets every night",
                "someone always leaves it in a weird state before a big call",
            ),
            (
                "security questionnaires answers live in one library",
                "we were giving different answers to the same question",
            ),
        ),
        procedures=(
            Procedure(
                title="answer a security questionnaire",
                question="what's the process for a security questionnaire?",
                steps=(
                    "Import it into the security questionnaires library tool.",
                    "Auto-fill from approved answers.",
                    "Send the open questions to the owner (Marcus for infra, Samuel for payments).",
                    "Get Chloe's sign-off before it goes out.",
                ),
                note="Never invent an answer, mark it as follow-up instead.",
            ),
        ),
        reviews=(
            "the customer won't know what this acronym means",
            "can we add a screenshot here?",
            "let's double check this answer with Marcus",
        ),
        review_intro="Reviewed {@asker}'s deck ({pr_link}):",
    ),
}

# --- Replies anyone may write; the writer styles them as their author. ---

ACKS: tuple[str, ...] = (
    "Thanks, that's exactly what I needed.",
    "Makes sense, thank you.",
    "Got it.",
    "Perfect, thanks.",
    "OK, will do.",
    "Thanks, I'll try that now.",
    "That worked.",
    "Great, that unblocks me.",
    "Understood, thanks for explaining.",
    "Thanks for the quick answer.",
)

# A colleague's follow-up question and the owner's answer to it.
FOLLOW_UPS: tuple[tuple[str, str], ...] = (
    (
        "Does the same apply to staging?",
        "Same for staging: {system} uses the test credentials there. It's all in {link}",
    ),
    ("Is that written down anywhere?", "Yes, the {system} notes are here: {link}"),
    (
        "Do I need anyone's approval for that?",
        "Not for staging. For {system} in prod, check with me or {@manager} first.",
    ),
    (
        "And if that fails, who should I page?",
        "Page the on-call and copy me, since I know {system} best.",
    ),
    ("How long does that usually take?", "For {system}, usually {dur}, a bit longer at month end."),
    ("Is there a dashboard for that?", "There is one for {system}: {link}"),
)

INCIDENT_CHATTER: tuple[str, ...] = (
    "Seeing errors from our side too.",
    "Anything I can help with?",
    "Support is getting tickets about this.",
    "Is this related to the deploy from this morning?",
    "I've paused my deploy until this is sorted.",
    "Status page updated.",
    "Customers on the pilot sites are noticing.",
)

INCIDENT_THANKS: tuple[str, ...] = (
    "Thanks {@owner}, nice work. Can we get a write-up?",
    "Great catch.",
    "Thanks for jumping on this so fast.",
    "Good job. Let's review it on {day}.",
)

DECISION_REPLIES: tuple[str, ...] = (
    "Agree, let's do that.",
    "Makes sense to me.",
    "I'd have gone the other way, but the reasoning is solid.",
    "Can we revisit this in a quarter?",
    "+1, thanks for writing down the why.",
    "Fine by me as long as it's documented.",
)

UPDATE_REPLIES: tuple[str, ...] = (
    "Thanks for the heads up.",
    "Noted.",
    "Good to know.",
    "Nice!",
    "Thank you.",
)

REVIEW_REPLIES: tuple[str, ...] = (
    "Fair points, fixing now.",
    "Done, pushed a new commit.",
    "Good catch, updated.",
    "I'd like to keep the second one as is, happy to discuss.",
)

SMALL_TALK: tuple[str, ...] = (
    "Anyone up for lunch at the ramen place?",
    "The coffee machine on the third floor is fixed.",
    "Happy Friday everyone.",
    "Who left the robot arm demo running in the lobby?",
    "Cake in the kitchen, it's my birthday.",
    "Does anyone have a spare USB-C charger?",
    "The office is closed on {day} for the fire drill.",
    "Book club is reading The Goal this month.",
    "Anyone going to the meetup on {day}?",
    "Pilot site photos from this week are in the shared drive.",
    "Lost a blue water bottle, meeting room 2 maybe?",
    "Five-a-side football on {day} at {time}, two spots left.",
)

# Private channels: threads that only their members see. Each contains the channel's canary
# phrase at least once (the first thread of each channel does, so every scale has it).
PRIVATE_THREADS: dict[str, tuple[tuple[tuple[str, str], ...], ...]] = {
    "hr-private": (
        (
            (
                "grace",
                "Sharing the 2025 salary band sheet before it goes to Helen: L3 Engineer "
                "£58k-£72k, L4 £72k-£90k, L5 £90k-£112k, L6 £112k-£135k.",
            ),
            (
                "ben",
                "The L5 range works for the senior SRE offer. We'd land at £98k plus "
                "options, inside the band.",
            ),
            ("helen", "Approved, but let's hold the L6 changes until after the board meeting."),
        ),
        (
            (
                "grace",
                "Ryan asked for a market adjustment. He's at £64k against a band midpoint "
                "of £70k on the 2025 salary band sheet, so I think it's fair.",
            ),
            ("helen", "Agreed. Effective from next month, please."),
        ),
        (
            (
                "ben",
                "Heads-up: Priya's resignation letter arrived, last day 14 November. Please "
                "keep this here until she tells her team.",
            ),
            (
                "grace",
                "Thanks. I'll set up the exit interview and talk to Marcus about "
                "backfilling the role.",
            ),
        ),
        (
            ("grace", "Confidential: Kenji's promotion case to L5 goes to calibration on {day}."),
            ("helen", "Strong case. Make sure the comparison with the other L5s is in the packet."),
        ),
        (
            (
                "grace",
                "We have a performance concern with one of the account executives. I'll "
                "meet Chloe first, then decide whether we need an improvement plan.",
            ),
            ("ben", "If it ends in a backfill, I can reopen the AE role in Greenhouse quickly."),
        ),
        (
            (
                "ben",
                "Dana told me she has accepted an offer elsewhere. Her last day will be 30 "
                "January; Samuel knows.",
            ),
            (
                "grace",
                "Let's start the offboarding checklist and make sure her knowledge is "
                "captured before she goes.",
            ),
        ),
        (
            (
                "grace",
                "Exit interview notes for Arjun are in his file. Main themes: wanted a "
                "bigger scope and a staff title.",
            ),
            ("helen", "Worth discussing at leadership without names."),
        ),
    ),
    "leadership": (
        (
            (
                "helen",
                "Project Kestrel update: the fleet-telemetry startup accepted our term "
                "sheet. Due diligence starts on {day}. Please keep this to this channel.",
            ),
            (
                "rafael",
                "I'll lead the technical due diligence for Project Kestrel. Their stack "
                "is mostly Go and Postgres, so integration looks feasible.",
            ),
            (
                "samuel",
                "Payments can absorb their billing in about a quarter, after the PCI DSS audit.",
            ),
        ),
        (
            (
                "helen",
                "Runway is 26 months at the current burn. The plan is to raise in Q3 next year.",
            ),
            (
                "chloe",
                "Sales can hit the plan if the two enterprise deals land! Both are at the "
                "contract stage.",
            ),
        ),
        (
            (
                "olivia",
                "For Project Kestrel: their data retention is looser than ours. We'd need "
                "to bring them under our governance policy within 90 days of closing.",
            ),
            ("helen", "Noted, add it to the integration plan."),
        ),
        (
            (
                "marcus",
                "Headcount request: one more SRE. Priya leaving leaves us at three on the "
                "rotation, which is not sustainable.",
            ),
            ("rafael", "Supported. Let's bring it to the budget review."),
            ("grace", "Ben can open the role this week."),
        ),
        (
            (
                "helen",
                "Board feedback: they want a clearer path to profitability. Let's spend "
                "the offsite on that.",
            ),
            ("chloe", "I'll bring a pricing proposal for the fleet dashboard add-on!"),
        ),
    ),
    "payments-incidents": (
        (
            (
                "dana",
                "Postmortem draft for the checkout outage (INC-2025-031): timeline, "
                "billing-svc pods kept the old PayStream key after the rotation, 38 minutes of "
                "failed charges, 412 customers affected. Root cause and actions below, comments "
                "welcome before Friday.",
            ),
            (
                "samuel",
                "Thanks Dana. Please add the customer impact in euros before it goes to Helen.",
            ),
            ("marcus", "Action items need owners and dates, otherwise they don't happen."),
        ),
        (
            (
                "lucia",
                "Postmortem draft for the duplicate settlements (INC-2025-044): ledger-recon "
                "caught 57 duplicates, no money moved twice. Draft is in the incident folder.",
            ),
            ("kenji", "Adding the webhook-gateway side to the timeline."),
        ),
        (
            (
                "kenji",
                "Postmortem draft for the webhook signature failures: 2 hours of 401s, "
                "PayStream retried everything, no data lost.",
            ),
            (
                "dana",
                "Please add that the signing secret rotation was not in the change "
                "calendar; that is the real lesson here.",
            ),
        ),
        (
            (
                "samuel",
                "Customer list for the checkout outage refunds is attached. Don't share "
                "outside this channel, it has account names.",
            ),
            ("lucia", "Refunds issued for all 412, ledger-recon confirms."),
        ),
        (
            (
                "dana",
                "Second pass on the invoice-runner memory incident, still a draft: one "
                "account with a huge invoice, no customer impact, action is to paginate line "
                "items.",
            ),
            ("samuel", "Good. Let's close it at the review on {day}."),
        ),
    ),
}

# What colleagues ask about a departed person's systems after they have left:
# (departed key, asker key, question, answerer key, answer).
AFTER_DEPARTURE: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "dana",
        "samuel",
        "The 90 days are up on the billing keys. Does anyone remember exactly how Dana did the "
        "rotation?",
        "lucia",
        "Her runbook is on the wiki and the steps are in her old thread in {#payments}. I did it "
        "with her twice, I'll take it on {day}.",
    ),
    (
        "dana",
        "kenji",
        "invoice-runner failed to resume last night. Dana's notes mention a --resume flag?",
        "lucia",
        "Yes, pass the run id from the invoice_runs table. It's in her handover notes.",
    ),
    (
        "priya",
        "wei",
        "Atlantis plans for infra-live fail with AccessDenied again. Priya said something about "
        "the session duration?",
        "tom",
        "Yes, it's the infra-live-ci role's max session. Bumped it to 2 hours like she did last "
        "time.",
    ),
    (
        "arjun",
        "olivia",
        "Who owns the revenue models now that Arjun has left? Finance wants a full refresh.",
        "mei",
        "I do for now. His handover says full refresh only at month end, so I'll do it on the "
        "first.",
    ),
    (
        "ben",
        "marcus",
        "Where do I find the interview loop for the SRE role now that Ben is gone?",
        "grace",
        "It's all in Greenhouse, and Ben's hiring playbook is on the wiki. I'm covering until "
        "we hire.",
    ),
)

# People outside the company who write email (name, address, organisation, what about).
EXTERNALS: tuple[tuple[str, str, str, str], ...] = (
    ("Nadia Petrova", "nadia.petrova@paystream.example", "PayStream", "dana"),
    ("CloudHost Support", "support@cloudhost.example", "CloudHost", "priya"),
    ("Tariq Haddad", "tariq@hirewell.example", "HireWell Recruiting", "ben"),
    ("Ingrid Solberg", "ingrid.solberg@snowdrift.example", "Snowdrift Data Cloud", "arjun"),
    ("Globex Procurement", "procurement@globex.example", "Globex Corporation", "ryan"),
)

# What each external correspondent writes: (subject, body sentences), then the owner's reply.
EXTERNAL_MAIL: dict[str, tuple[tuple[str, str, str], ...]] = {
    "nadia.petrova@paystream.example": (
        (
            "Upcoming changes to restricted API keys",
            "We are introducing a new scope for restricted keys next quarter. Existing keys "
            "keep working, but new keys created after the change will need the scope set "
            "explicitly. Could you confirm who at Northwind manages your keys?",
            "Thanks Nadia. I manage the billing API keys on our side; we rotate every 90 days, "
            "so our next rotation will pick up the new scope. Please send the exact scope name "
            "when you have it.",
        ),
        (
            "Your quarterly account review",
            "I'd like to schedule our quarterly review. Your charge volume grew nicely and "
            "your dispute rate is well below the industry average.",
            "Happy to meet. Could we do {day} at {time}? I'll bring Samuel, who owns our "
            "payments roadmap.",
        ),
    ),
    "support@cloudhost.example": (
        (
            "Case 58213: EBS attach failures in eu-west-1b",
            "We have identified an issue affecting volume attachments in one availability "
            "zone. Mitigation is in progress. We recommend moving workloads to other zones.",
            "Thanks. We already cordoned the zone on nw-prod-eks; please let us know when the "
            "root cause is confirmed.",
        ),
        (
            "Scheduled maintenance: managed Kubernetes control planes",
            "Control planes running version 1.27 will be upgraded automatically on the "
            "announced date unless upgraded earlier.",
            "Noted. nw-prod-eks will be upgraded before the date, staging first.",
        ),
    ),
    "tariq@hirewell.example": (
        (
            "Senior SRE candidates",
            "I have three strong senior SRE candidates available for interviews next week, "
            "two of them with Kubernetes and Terraform experience at scale.",
            "Great, please send the CVs and I'll set up screens. Same interview loops as usual.",
        ),
    ),
    "ingrid.solberg@snowdrift.example": (
        (
            "Credit usage alert for your account",
            "Your warehouse credit consumption was 2.4 times your monthly average over the "
            "past week. Would you like us to review your warehouse configuration?",
            "Thanks Ingrid, we found it: an XL warehouse with auto-suspend off. Fixed now, "
            "usage should be back to normal.",
        ),
    ),
    "procurement@globex.example": (
        (
            "Vendor security assessment",
            "As part of our vendor onboarding, please complete the attached security "
            "assessment within ten business days.",
            "Thanks, we'll have it back to you within the week. Our SOC 2 report is available "
            "under NDA if that helps.",
        ),
    ),
}

SMALL_TALK_REPLIES: tuple[str, ...] = (
    "Count me in.",
    "Me too.",
    "Thanks!",
    "Ha, nice.",
    "+1",
    "On my way.",
)

FAREWELL: tuple[str, ...] = (
    "Today is my last day at Northwind.",
    "Thank you all, it has been a privilege to build this with you.",
    "{@successor} is taking over {system} from here, and my handover notes are in {#home}.",
)

FAREWELL_REPLIES: tuple[str, ...] = (
    "We'll miss you!",
    "Good luck with the next thing.",
    "Thank you for everything, especially the docs.",
    "It won't be the same without you. Keep in touch.",
)

HANDOVER_INTRO = "Handover notes for {system} before I leave. Please ask now, not after I'm gone."
