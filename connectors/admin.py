from django.contrib import admin

from connectors.models import QuarantinedFile, Source, SyncRun


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "status", "last_synced_at"]
    list_filter = ["kind", "status"]
    readonly_fields = ["checkpoint", "last_synced_at"]


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ["id", "source", "status", "started_at", "items_created", "files_quarantined"]
    list_filter = ["status"]


@admin.register(QuarantinedFile)
class QuarantinedFileAdmin(admin.ModelAdmin):
    list_display = ["path", "error_type", "copy_status", "source", "created_at"]
    list_filter = ["error_type", "copy_status"]
