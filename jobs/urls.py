from django.urls import path

from jobs.views import actions, detail, page

urlpatterns = [
    path("", page.job_list, name="jobs"),
    path("<str:job_id>/", detail.job_detail, name="job_detail"),
    path("<str:job_id>/row/", page.job_row, name="job_row"),
    path("<str:job_id>/live/", detail.job_live, name="job_live"),
    path("<str:job_id>/log/", detail.job_log, name="job_log"),
    path("<str:job_id>/log.txt", detail.job_log_txt, name="job_log_txt"),
    path("<str:job_id>/cancel/", actions.job_cancel, name="job_cancel"),
    path("<str:job_id>/retry/", actions.job_retry, name="job_retry"),
    path("<str:job_id>/verify/", actions.job_verify, name="job_verify"),
    path("<str:job_id>/repair/", actions.job_repair, name="job_repair"),
    path("<str:job_id>/speed-cap/", actions.job_speed_cap, name="job_speed_cap"),
]
