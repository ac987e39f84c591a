"""Upload views for the live-mirroring tests: each change inside one transaction, rolled back on request."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_POST

from testproject.models import Photo


def _rolled_back(request: HttpRequest) -> bool:
    """With fail=1 the transaction is rolled back after the work is done: nothing of it commits."""
    if request.POST.get("fail"):
        transaction.set_rollback(True)
        return True
    return False


@require_POST
def upload_photo(request: HttpRequest) -> HttpResponse:
    with transaction.atomic():
        photo = Photo.objects.create(title=request.POST.get("title", ""), original=request.FILES["original"])
        if _rolled_back(request):
            return HttpResponse("Rolled back.", status=409)
    return JsonResponse({"pk": photo.pk, "name": photo.original.name}, status=201)


@require_POST
def replace_photo(request: HttpRequest, pk: int) -> HttpResponse:
    """The new original replaces the old one, whose file goes with it (as django-cleanup would do)."""
    with transaction.atomic():
        photo = get_object_or_404(Photo.objects.select_for_update(), pk=pk)
        old = photo.original.name
        photo.original = request.FILES["original"]
        photo.save()
        photo.original.storage.delete(old)
        if _rolled_back(request):
            return HttpResponse("Rolled back.", status=409)
    return JsonResponse({"pk": photo.pk, "name": photo.original.name})


@require_POST
def delete_photo(request: HttpRequest, pk: int) -> HttpResponse:
    with transaction.atomic():
        photo = get_object_or_404(Photo, pk=pk)
        storage, name = photo.original.storage, photo.original.name or ""
        photo.delete()
        storage.delete(name)
    return HttpResponse(status=204)


@require_POST
def upload_file(request: HttpRequest) -> HttpResponse:
    """A file saved through the storage API itself, with no model: what LiveStorageMixin sees and signals do not."""
    with transaction.atomic():
        upload = request.FILES.get("file")
        assert isinstance(upload, UploadedFile)
        name = default_storage.save(f"uploads/{upload.name}", upload)
        if _rolled_back(request):
            return HttpResponse("Rolled back.", status=409)
    return JsonResponse({"name": name}, status=201)


@require_POST
def delete_file(request: HttpRequest) -> HttpResponse:
    with transaction.atomic():
        default_storage.delete(request.POST["name"])
    return HttpResponse(status=204)
