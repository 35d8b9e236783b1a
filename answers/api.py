"""REST endpoints: ask a colleague, and who knows. Both answer as the caller may see it and
return the JSON of the `ask` and `who_knows` commands; every question is an audit event."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from answers.actions import record_ask, record_who_knows
from answers.ask import EXTRACTIVE, LLM, ask
from answers.who_knows import results_json, who_knows
from colleagues.access import User, can_view_package
from colleagues.models import Colleague
from colleagues.selectors import colleague_by_email
from knowledge.visibility import reader_for


def colleague_named(value: str, user: User) -> Colleague:
    """The colleague with this slug or e-mail address whose package `user` may open; Http404
    when there is none or they may not."""
    if "@" in value:
        found = colleague_by_email(value)
    else:
        found = Colleague.objects.filter(slug=value).first()
    if found is None or not can_view_package(user, found):
        raise Http404("No such colleague.")
    return found


class AskInputSerializer(serializers.Serializer):
    colleague = serializers.CharField(max_length=254, help_text="the colleague's slug or e-mail")
    question = serializers.CharField(max_length=2000)
    limit = serializers.IntegerField(
        min_value=1, max_value=20, default=5, help_text="most items cited"
    )


class CitationSerializer(serializers.Serializer):
    item_id = serializers.IntegerField()
    excerpt = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]
    created_at = serializers.DateTimeField()
    url = serializers.CharField(allow_null=True)


class AskOutputSerializer(serializers.Serializer):
    answer = serializers.CharField(help_text='"[n]" refers to citations[n - 1]')
    mode = serializers.ChoiceField(choices=[EXTRACTIVE, LLM])
    citations = CitationSerializer(many=True)


class AskApi(APIView):
    """Answer a question from what a colleague wrote, in their own words, with citations
    (the JSON of `manage.py ask`). Unknown colleague: 404."""

    @extend_schema(request=AskInputSerializer, responses=AskOutputSerializer)
    def post(self, request: Request) -> Response:
        data = AskInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        colleague = colleague_named(data.validated_data["colleague"], request.user)
        question = data.validated_data["question"]
        reader = reader_for(request.user)
        answer = ask(reader, colleague, question, limit=data.validated_data["limit"])
        record_ask(
            reader=reader,
            colleague=colleague,
            question=question,
            answer=answer,
            actor=request.user,
            via="api",
        )
        return Response(answer.as_json())


class WhoKnowsInputSerializer(serializers.Serializer):
    question = serializers.CharField(max_length=2000)
    limit = serializers.IntegerField(min_value=1, max_value=50, default=5)


class ExpertColleagueSerializer(serializers.Serializer):
    email = serializers.CharField(allow_blank=True)
    name = serializers.CharField()
    status = serializers.CharField()
    slug = serializers.CharField()


class ExpertEvidenceSerializer(serializers.Serializer):
    item_id = serializers.IntegerField()
    excerpt = serializers.CharField()


class SignalsSerializer(serializers.Serializer):
    wrote = serializers.FloatField()
    answered = serializers.FloatField()
    package = serializers.FloatField()
    recency = serializers.FloatField()
    worked_with = serializers.FloatField(help_text="a successor's closeness to the expert")


class SuccessorSerializer(serializers.Serializer):
    colleague = ExpertColleagueSerializer()
    score = serializers.FloatField()
    evidence = ExpertEvidenceSerializer(many=True)
    signals = SignalsSerializer()


class ExpertSerializer(SuccessorSerializer):
    successors = SuccessorSerializer(
        many=True, help_text="for a departed colleague: current colleagues who know the same"
    )


class WhoKnowsOutputSerializer(serializers.Serializer):
    results = ExpertSerializer(many=True)


class WhoKnowsApi(APIView):
    """Colleagues, current and departed, who know the answer to a question, best first, with
    evidence the caller may see (the JSON of `manage.py who_knows`)."""

    @extend_schema(request=WhoKnowsInputSerializer, responses=WhoKnowsOutputSerializer)
    def post(self, request: Request) -> Response:
        data = WhoKnowsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        question = data.validated_data["question"]
        reader = reader_for(request.user)
        experts = who_knows(reader, question, limit=data.validated_data["limit"])
        record_who_knows(
            reader=reader, question=question, experts=experts, actor=request.user, via="api"
        )
        return Response(results_json(experts))
