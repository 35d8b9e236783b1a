from django.contrib import admin

from colleagues.models import Colleague, Identity


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    fields = ["kind", "value", "display_name", "is_bot"]


@admin.register(Colleague)
class ColleagueAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "title", "department", "status"]
    list_filter = ["status", "department"]
    search_fields = ["name", "email", "title"]
    raw_id_fields = ["manager", "user"]
    inlines = [IdentityInline]


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ["kind", "value", "display_name", "colleague", "is_bot"]
    list_filter = ["kind", "is_bot"]
    search_fields = ["value", "display_name"]
    raw_id_fields = ["colleague"]
