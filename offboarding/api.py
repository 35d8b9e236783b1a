"""REST endpoints for offboarding cases, for HR (permission colleagues.manage_offboarding), and
the HR system's signed webhook (offboarding/webhook.py). A case's capture progress, review and
handover are also open to its reviewers (offboarding.review.can_review: the person while still
employed, and their manager), as the intranet pages are.

Refusals of the state machine and of the case actions answer 409 with their message; input
that does not validate answers 400; an action its caller may not take answers 403 with why.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from colleagues.api import SourceCountSerializer
from colleagues.models import Colleague
from connectors.models import Source
from knowledge.models import Item
from knowledge.redaction import RedactionRefused
from offboarding import review, webhook
from offboarding.capture import capture_progress, start_capture
from offboarding.cases import (
    CaseRefused,
    TransitionRefused,
    can_manage,
    complete_step,
    open_case,
    set_retention,
    transition,
)
from offboarding.handover import bus_factor, exit_interview_questions, handover_map, set_successor
from offboarding.models import ChecklistItem, OffboardingCase, Step
from skills.actions import BuildRefused

DetailSerializer = inline_serializer("OffboardingRefusal", {"detail": serializers.CharField()})


class ManageOffboarding(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return can_manage(request.user)


class ViewAllPackages(BasePermission):
    """HR who may read every package (the bus-factor view reads them all)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return can_manage(request.user) and request.user.has_perm("colleagues.view_all_packages")


def _refused(exc: CaseRefused | BuildRefused | RedactionRefused) -> Response:
    return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)


def _forbidden(exc: PermissionDenied) -> exceptions.PermissionDenied:
    """DRF's 403 with the refusal's own message (DRF would answer its generic one)."""
    return exceptions.PermissionDenied(str(exc) or None)


# Output.


class ChecklistItemSerializer(serializers.Serializer):
    step = serializers.CharField()
    title = serializers.CharField()
    responsible = serializers.CharField()
    due_on = serializers.DateField()
    done_at = serializers.DateTimeField(allow_null=True)
    done_by = serializers.CharField(source="done_by.username", allow_null=True, default=None)
    note = serializers.CharField(allow_blank=True)
    reminders = serializers.IntegerField()


class CaseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    colleague = serializers.CharField(
        source="colleague.slug", allow_null=True, default=None, help_text="empty once erased"
    )
    subject_label = serializers.CharField()
    state = serializers.ChoiceField(choices=OffboardingCase.State.choices)
    last_day = serializers.DateField()
    account_removal_on = serializers.DateField(allow_null=True)
    opened_via = serializers.ChoiceField(choices=OffboardingCase.Trigger.choices)
    external_id = serializers.CharField(allow_blank=True, help_text="the HR system's id")
    access_policy = serializers.ChoiceField(choices=OffboardingCase.Access.choices)
    retention_days = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class CaseDetailSerializer(CaseSerializer):
    checklist = ChecklistItemSerializer(many=True)


class HandoverSerializer(serializers.Serializer):
    area = serializers.CharField()
    kind = serializers.CharField(help_text="system, area (from the package) or named")
    items = serializers.IntegerField()
    asked = serializers.IntegerField()
    successor = serializers.CharField(source="successor.slug", allow_null=True, default=None)
    note = serializers.CharField(allow_blank=True)


class CaptureRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    source = serializers.CharField()  # type: ignore[assignment]
    kind = serializers.CharField(help_text="the source's kind")
    state = serializers.CharField(help_text="queued, running, done or failed")
    documents_read = serializers.IntegerField()
    documents_theirs = serializers.IntegerField()
    items_created = serializers.IntegerField()
    items_updated = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class CaptureProgressSerializer(serializers.Serializer):
    """offboarding.capture.capture_progress."""

    case = serializers.IntegerField()
    state = serializers.CharField(help_text="the case's state")
    runs = CaptureRunSerializer(many=True)
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    total = serializers.IntegerField()
    finished = serializers.BooleanField(help_text="every run is done or failed")


class ReviewItemSerializer(serializers.Serializer):
    """One item the person authored. Its title, text and container are given only when
    `readable`: the caller could see the item at the source, or is the person."""

    id = serializers.IntegerField()
    kind = serializers.CharField(help_text="message, email or document")
    source = serializers.CharField()  # type: ignore[assignment]
    container_kind = serializers.CharField(allow_null=True, help_text="channel, mailbox, ...")
    created_at = serializers.DateTimeField()
    readable = serializers.BooleanField()
    title = serializers.CharField(allow_null=True)
    text = serializers.CharField(allow_null=True)
    container = serializers.CharField(allow_null=True, help_text="its name")


class CaseReviewSerializer(serializers.Serializer):
    per_source = SourceCountSerializer(many=True)
    review_approved = serializers.BooleanField()
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ReviewItemSerializer(many=True)


class CaseHandoverSerializer(serializers.Serializer):
    areas = HandoverSerializer(many=True)
    questions = serializers.ListField(
        child=serializers.CharField(), help_text="for the exit interview"
    )


class SoleTopicSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField(help_text="system or area")
    holder = serializers.CharField(source="holder.slug")
    holder_name = serializers.CharField(source="holder.name")
    items = serializers.IntegerField()
    asked = serializers.IntegerField()
    leaving = serializers.BooleanField(help_text="an open offboarding case, or departed")


def _cases() -> QuerySet[OffboardingCase]:
    return OffboardingCase.objects.select_related("colleague")


def access_case(case_id: int) -> OffboardingCase:
    """The case with its checklist, or 404."""
    return get_object_or_404(
        _cases().prefetch_related(
            Prefetch("checklist", queryset=ChecklistItem.objects.select_related("done_by"))
        ),
        pk=case_id,
    )


def access_reviewed_case(user: User | AnonymousUser, case_id: int) -> OffboardingCase:
    """The case, if `user` is HR or one of its reviewers (offboarding.review.can_review).
    PermissionDenied otherwise; an id that does not exist is 404 only to HR, so nobody else
    learns which cases exist."""
    case = (
        OffboardingCase.objects.select_related("colleague", "colleague__manager")
        .filter(pk=case_id)
        .first()
    )
    if case is None and can_manage(user):
        raise Http404
    if case is None or not review.can_review(user, case):
        raise exceptions.PermissionDenied(
            "This offboarding case is for HR, the person and their manager."
        )
    return case


def _detail(case_id: int) -> Response:
    return Response(CaseDetailSerializer(access_case(case_id)).data)


def _colleague(slug: str) -> Colleague:
    colleague = Colleague.objects.filter(slug=slug).first()
    if colleague is None:
        raise serializers.ValidationError({"colleague": [f"No colleague {slug!r}."]})
    return colleague


# Cases.


class OffboardingCaseListApi(APIView):
    """Cases, soonest last day first, filtered by state (GET); open one (POST)."""

    permission_classes = [IsAuthenticated, ManageOffboarding]

    class FilterSerializer(serializers.Serializer):
        state = serializers.ChoiceField(choices=OffboardingCase.State.choices, required=False)

    class OpenCaseInputSerializer(serializers.Serializer):
        colleague = serializers.SlugField(max_length=120, help_text="the person's slug")
        last_day = serializers.DateField()
        account_removal_on = serializers.DateField(required=False, allow_null=True, default=None)
        access_policy = serializers.ChoiceField(
            choices=OffboardingCase.Access.choices, default=OffboardingCase.Access.TEAM
        )
        external_id = serializers.CharField(
            max_length=200, required=False, allow_blank=True, default=""
        )

        def validate(self, attrs: dict[str, object]) -> dict[str, object]:
            removal, last_day = attrs.get("account_removal_on"), attrs["last_day"]
            if removal is not None and removal < last_day:  # type: ignore[operator]
                raise serializers.ValidationError(
                    {"account_removal_on": ["The accounts cannot be removed before the last day."]}
                )
            return attrs

    @extend_schema(parameters=[FilterSerializer], responses=CaseSerializer(many=True))
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        cases = _cases()
        if state := filters.validated_data.get("state"):
            cases = cases.filter(state=state)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(cases, request, view=self)
        return paginator.get_paginated_response(CaseSerializer(page, many=True).data)

    @extend_schema(
        request=OpenCaseInputSerializer,
        responses={201: CaseDetailSerializer, 409: DetailSerializer},
    )
    def post(self, request: Request) -> Response:
        data = self.OpenCaseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        try:
            case = open_case(
                _colleague(fields["colleague"]),
                last_day=fields["last_day"],
                account_removal_on=fields["account_removal_on"],
                access_policy=fields["access_policy"],
                external_id=fields["external_id"],
                via=OffboardingCase.Trigger.API,
                actor=request.user,
            )
        except CaseRefused as exc:
            return _refused(exc)
        return Response(
            CaseDetailSerializer(access_case(case.pk)).data, status=status.HTTP_201_CREATED
        )


class OffboardingCaseDetailApi(APIView):
    """One case with its checklist."""

    permission_classes = [IsAuthenticated, ManageOffboarding]

    @extend_schema(responses=CaseDetailSerializer)
    def get(self, request: Request, case_id: int) -> Response:
        return _detail(case_id)


class OffboardingCaseTransitionApi(APIView):
    """Move a case to another state, if the state machine and its guards allow it."""

    permission_classes = [IsAuthenticated, ManageOffboarding]

    class TransitionInputSerializer(serializers.Serializer):
        state = serializers.ChoiceField(
            choices=OffboardingCase.State.choices, help_text="the state to move to"
        )
        reason = serializers.CharField(max_length=500, required=False, allow_blank=True)

    @extend_schema(
        request=TransitionInputSerializer,
        responses={200: CaseDetailSerializer, 409: DetailSerializer},
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = get_object_or_404(OffboardingCase, pk=case_id)
        data = self.TransitionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            transition(
                case,
                data.validated_data["state"],
                actor=request.user,
                reason=data.validated_data.get("reason", ""),
            )
        except TransitionRefused as exc:
            return _refused(exc)
        return _detail(case_id)


class OffboardingStepApi(APIView):
    """Tick off one step of a case's checklist (again: keeps the first time)."""

    permission_classes = [IsAuthenticated, ManageOffboarding]

    class StepInputSerializer(serializers.Serializer):
        note = serializers.CharField(max_length=1000, required=False, allow_blank=True)

    @extend_schema(request=StepInputSerializer, responses=ChecklistItemSerializer)
    def post(self, request: Request, case_id: int, step: str) -> Response:
        case = get_object_or_404(OffboardingCase, pk=case_id)
        if step not in Step.values:
            raise Http404
        data = self.StepInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            item = complete_step(
                case, step, actor=request.user, note=data.validated_data.get("note", "")
            )
        except CaseRefused as exc:  # the case's checklist has no such step
            raise Http404 from exc
        return Response(ChecklistItemSerializer(item).data)


class OffboardingRetentionApi(APIView):
    """Set how many days what the person wrote is kept after they left; ticks off the step."""

    permission_classes = [IsAuthenticated, ManageOffboarding]

    class RetentionInputSerializer(serializers.Serializer):
        days = serializers.IntegerField(min_value=1, max_value=36_500)

    @extend_schema(
        request=RetentionInputSerializer,
        responses={200: CaseDetailSerializer, 409: DetailSerializer},
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = get_object_or_404(OffboardingCase, pk=case_id)
        data = self.RetentionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            set_retention(case, days=data.validated_data["days"], actor=request.user)
        except CaseRefused as exc:
            return _refused(exc)
        return _detail(case_id)


class OffboardingSuccessorsApi(APIView):
    """The handover map: each area or system of the person and its successor (GET); name the
    successor of one area (POST, `successor` null: nobody yet)."""

    permission_classes = [IsAuthenticated, ManageOffboarding]

    class SuccessorInputSerializer(serializers.Serializer):
        area = serializers.CharField(max_length=200)
        successor = serializers.SlugField(max_length=120, allow_null=True)
        note = serializers.CharField(max_length=1000, required=False, allow_blank=True)

    @extend_schema(responses=HandoverSerializer(many=True))
    def get(self, request: Request, case_id: int) -> Response:
        case = get_object_or_404(_cases(), pk=case_id)
        return Response(HandoverSerializer(handover_map(case), many=True).data)

    @extend_schema(
        request=SuccessorInputSerializer,
        responses={200: HandoverSerializer(many=True), 409: DetailSerializer},
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = get_object_or_404(_cases(), pk=case_id)
        data = self.SuccessorInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        successor = None
        if fields["successor"] is not None:
            successor = _colleague(fields["successor"])
            if successor.pk == case.colleague_id or successor.is_departed:
                raise serializers.ValidationError(
                    {"successor": ["Name someone who stays: not the person leaving."]}
                )
        if not case.is_open:
            return _refused(CaseRefused(f"Case #{case.pk} is {case.get_state_display().lower()}."))
        set_successor(
            case,
            area=fields["area"],
            successor=successor,
            note=fields.get("note", ""),
            actor=request.user,
        )
        return Response(HandoverSerializer(handover_map(case), many=True).data)


# Capture.


class OffboardingCaptureApi(APIView):
    """The case's capture runs and their progress (GET: HR and the case's reviewers); start
    capturing the person's data from chosen sources (POST: HR), answering 202 with the
    progress: the runs go on in the worker, so poll GET."""

    class CaptureInputSerializer(serializers.Serializer):
        sources = serializers.ListField(
            child=serializers.IntegerField(min_value=1),
            min_length=1,
            max_length=100,
            help_text="ids of the sources to capture from (not the upload source)",
        )

    @extend_schema(responses=CaptureProgressSerializer)
    def get(self, request: Request, case_id: int) -> Response:
        case = access_reviewed_case(request.user, case_id)
        return Response(capture_progress(case))

    @extend_schema(
        request=CaptureInputSerializer,
        responses={202: CaptureProgressSerializer, 409: DetailSerializer},
    )
    def post(self, request: Request, case_id: int) -> Response:
        if not can_manage(request.user):
            raise exceptions.PermissionDenied("Only HR starts a capture.")
        case = get_object_or_404(OffboardingCase, pk=case_id)
        data = self.CaptureInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = data.validated_data["sources"]
        chosen = list(Source.objects.filter(pk__in=ids).exclude(kind="upload"))
        if missing := sorted(set(ids) - {source.pk for source in chosen}):
            raise serializers.ValidationError(
                {"sources": [f"No source #{pk} to capture from." for pk in missing]}
            )
        try:
            start_capture(case, sources=chosen, actor=request.user)
        except CaseRefused as exc:
            return _refused(exc)
        return Response(capture_progress(case), status=status.HTTP_202_ACCEPTED)


# Review.


def _review_row(item: Item, *, readable: bool) -> dict[str, object]:
    container = item.container
    return {
        "id": item.pk,
        "kind": item.kind,
        "source": item.source.name,
        "container_kind": container.kind if container else None,
        "created_at": item.created_at,
        "readable": readable,
        "title": item.title if readable else None,
        "text": item.body if readable else None,
        "container": container.name if container and readable else None,
    }


class OffboardingReviewApi(APIView):
    """What was captured of the person, per source and item by item (newest first), for HR
    and the case's reviewers to redact or keep. Only the person reads the text of all of it;
    anyone else reads the title, text and container of what they could see at the source,
    and the rest by kind, source and date only."""

    class ReviewPageSerializer(serializers.Serializer):
        page = serializers.IntegerField(min_value=1, required=False)

    @extend_schema(parameters=[ReviewPageSerializer], responses=CaseReviewSerializer)
    def get(self, request: Request, case_id: int) -> Response:
        case = access_reviewed_case(request.user, case_id)
        paginator = PageNumberPagination()
        items = paginator.paginate_queryset(review.captured_items(case), request, view=self)
        items = items or []
        readable = review.readable_item_ids(request.user, case, items)
        rows = [_review_row(item, readable=item.pk in readable) for item in items]
        page = paginator.get_paginated_response(rows).data  # count, next, previous, results
        approved = case.checklist.filter(step=Step.REVIEW, done_at__isnull=False).exists()
        body = {
            "per_source": review.captured_per_source(case),
            "review_approved": approved,
            **page,
        }
        return Response(CaseReviewSerializer(body).data)


class OffboardingRedactApi(APIView):
    """Redact one item the person authored, everywhere (offboarding.review.redact_in_review),
    while the case is in review: HR and the case's reviewers. 409 when the case is not in
    review, the item is not theirs, or a legal hold keeps it."""

    class RedactInputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=500)

    @extend_schema(
        request=RedactInputSerializer,
        responses={204: None, 403: DetailSerializer, 409: DetailSerializer},
    )
    def post(self, request: Request, case_id: int, item_id: int) -> Response:
        case = access_reviewed_case(request.user, case_id)
        item = get_object_or_404(Item, pk=item_id)
        data = self.RedactInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            review.redact_in_review(
                case, item, actor=request.user, reason=data.validated_data["reason"]
            )
        except PermissionDenied as exc:
            raise _forbidden(exc) from exc
        except (CaseRefused, RedactionRefused) as exc:
            return _refused(exc)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OffboardingApproveReviewApi(APIView):
    """Approve the review, so HR may publish: the person's manager or HR (the person reviews
    but does not approve: 403). Approving again keeps the first approval."""

    class ApproveInputSerializer(serializers.Serializer):
        note = serializers.CharField(max_length=1000, required=False, allow_blank=True)

    @extend_schema(
        request=ApproveInputSerializer,
        responses={200: ChecklistItemSerializer, 403: DetailSerializer, 409: DetailSerializer},
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = access_reviewed_case(request.user, case_id)
        data = self.ApproveInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            item = review.approve_review(
                case, actor=request.user, note=data.validated_data.get("note", "")
            )
        except PermissionDenied as exc:
            raise _forbidden(exc) from exc
        except CaseRefused as exc:
            return _refused(exc)
        return Response(ChecklistItemSerializer(item).data)


class OffboardingPublishApi(APIView):
    """Build the person's package and share it as the case's access policy says, once the
    review is approved (offboarding.review.publish); the case moves to published. 409 when
    the case is not in review, the review is not approved, or their consent is missing."""

    permission_classes = [IsAuthenticated, ManageOffboarding]

    @extend_schema(request=None, responses={200: CaseDetailSerializer, 409: DetailSerializer})
    def post(self, request: Request, case_id: int) -> Response:
        case = get_object_or_404(OffboardingCase, pk=case_id)
        try:
            review.publish(case, actor=request.user)
        except PermissionDenied as exc:
            raise _forbidden(exc) from exc
        except (CaseRefused, BuildRefused) as exc:
            return _refused(exc)
        return _detail(case_id)


# Handover.


class OffboardingHandoverApi(APIView):
    """The handover map (each area or system of the person and its successor) and the
    questions for their exit interview, from the gaps in their package: HR and the case's
    reviewers. Names and counts only, never item text."""

    @extend_schema(responses=CaseHandoverSerializer)
    def get(self, request: Request, case_id: int) -> Response:
        case = access_reviewed_case(request.user, case_id)
        colleague = case.colleague
        body = {
            "areas": handover_map(case),
            "questions": exit_interview_questions(colleague) if colleague else [],
        }
        return Response(CaseHandoverSerializer(body).data)


class OffboardingBusFactorApi(APIView):
    """Areas and systems only one person writes about, those of people leaving first: for HR
    who may read every package (colleagues.view_all_packages)."""

    permission_classes = [IsAuthenticated, ViewAllPackages]

    @extend_schema(responses=SoleTopicSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(SoleTopicSerializer(bus_factor(), many=True).data)


# The HR system.


class OffboardingWebhookApi(APIView):
    """The HR system's signed deliveries (offboarding/webhook.py). No session or token: the
    HMAC signature authenticates, so there is no cookie for CSRF to protect. Answers 404 while
    OFFBOARDING_WEBHOOK_SECRET is empty: the webhook is switched off, and a sender retrying on
    5xx should not retry against a server that will never accept it."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def post(self, request: Request) -> Response:
        secret = settings.OFFBOARDING_WEBHOOK_SECRET
        if not secret:
            raise Http404
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        try:
            if declared > webhook.MAX_BODY_BYTES:
                raise webhook.BodyTooLarge(
                    f"The body is larger than {webhook.MAX_BODY_BYTES} bytes."
                )
            outcome = webhook.receive(
                secret=secret,
                body=request.body,
                content_type=request.content_type,
                timestamp=request.headers.get("X-Colleague-Timestamp"),
                signature=request.headers.get("X-Colleague-Signature"),
                delivery_id=request.headers.get("X-Colleague-Delivery"),
                now=time.time(),
            )
        except webhook.WebhookError as exc:
            return Response({"detail": str(exc)}, status=exc.status)
        case = outcome.case
        return Response(
            {"case": case.pk, "state": case.state, "created": outcome.created},
            status=status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK,
        )
