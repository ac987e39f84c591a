from __future__ import annotations

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import path

from testproject import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("photos/", views.upload_photo, name="upload-photo"),
    path("photos/<int:pk>/replace/", views.replace_photo, name="replace-photo"),
    path("photos/<int:pk>/delete/", views.delete_photo, name="delete-photo"),
    path("uploads/", views.upload_file, name="upload-file"),
    path("uploads/delete/", views.delete_file, name="delete-file"),
    *static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT),
]
