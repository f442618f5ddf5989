"""Per-action request-rate limits of the VOD OpenAPI, per Alibaba Cloud account.

Copied from the "视频点播API QPS限制" table of the API reference (seed 004, lines 770-1330,
document version 20220708). A limit is shared by the main account and all of its RAM users,
so every process that calls VOD with one account must split it (see `vod_qps` in README).

Why a table and not one number: limits differ by 180x between actions (GetPlayInfo 360/s,
UpdateWatermark 2/s), and one slow action must not hold back the fast ones.

Not in the table:
* Actions the reference does not list are, per the reference, not flow-controlled per user;
  they get no client-side limit unless `vod_qps` has a "*" entry (a default for all of them).
* UploadMediaByURL is limited to 200 000 calls **per day**, not per second; a per-second
  bucket cannot express a daily quota, so it is left out (vodhook never calls it).
* The PDF splits one name across a line ("GetMediaAuditResultT imeline"); fixed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

DEFAULT_QPS: Final[Mapping[str, float]] = {
    # media upload
    "CreateUploadVideo": 120,
    "RefreshUploadVideo": 120,
    "CreateUploadImage": 100,
    "CreateUploadAttachedMedia": 100,
    "GetURLUploadInfos": 100,
    "RegisterMedia": 50,
    "GetUploadDetails": 100,
    "CancelUrlUploadJobs": 50,
    "DeleteMultipartUpload": 10,
    # playback
    "GetVideoPlayAuth": 360,
    "GetPlayInfo": 360,
    # media search and categories
    "SearchMedia": 50,
    "AddCategory": 30,
    "UpdateCategory": 100,
    "DeleteCategory": 10,
    "GetCategories": 50,
    # audio/video management
    "GetVideoInfo": 100,
    "GetVideoInfos": 100,
    "GetVideoList": 100,
    "GetMezzanineInfo": 100,
    "UpdateVideoInfo": 100,
    "UpdateVideoInfos": 30,
    "DeleteMezzanines": 50,
    "DeleteStream": 50,
    "DeleteVideo": 30,
    # auxiliary media
    "GetAttachedMediaInfo": 100,
    "UpdateAttachedMediaInfos": 100,
    "DeleteAttachedMedia": 50,
    # images
    "GetImageInfo": 100,
    "UpdateImageInfos": 50,
    "DeleteImage": 50,
    "ListSnapshots": 30,
    # animated images
    "ListDynamicImage": 100,
    "DeleteDynamicImage": 10,
    # media processing
    "SubmitTranscodeJobs": 30,
    "SubmitSnapshotJob": 30,
    "SubmitPreprocessJobs": 15,
    "SubmitDynamicImageJob": 30,
    "SubmitWorkflowJob": 20,
    # transcode template groups
    "AddTranscodeTemplateGroup": 5,
    "UpdateTranscodeTemplateGroup": 5,
    "DeleteTranscodeTemplateGroup": 5,
    "ListTranscodeTemplateGroup": 15,
    "GetTranscodeTemplateGroup": 30,
    "SetDefaultTranscodeTemplateGroup": 5,
    # snapshot (VOD) templates
    "GetVodTemplate": 30,
    "ListVodTemplate": 10,
    "AddVodTemplate": 10,
    "UpdateVodTemplate": 20,
    "DeleteVodTemplate": 5,
    # watermarks
    "AddWatermark": 10,
    "UpdateWatermark": 2,
    "DeleteWatermark": 5,
    "SetDefaultWatermark": 2,
    "ListWatermark": 10,
    "GetWatermark": 10,
    # transcode tasks
    "GetTranscodeSummary": 15,
    "ListTranscodeTask": 15,
    "GetTranscodeTask": 15,
    # online editing
    "ProduceEditingProjectVideo": 50,
    "AddEditingProject": 30,
    "UpdateEditingProject": 10,
    "DeleteEditingProject": 20,
    "GetEditingProject": 30,
    "SearchEditingProject": 30,
    "SetEditingProjectMaterials": 30,
    "GetEditingProjectMaterials": 30,
    # review settings and manual review
    "SetAuditSecurityIp": 100,
    "ListAuditSecurityIp": 100,
    "CreateAudit": 100,
    "GetAuditHistory": 100,
    # smart review
    "SubmitAIMediaAuditJob": 15,
    "SubmitAIImageAuditJob": 20,
    "GetAIMediaAuditJob": 20,
    "GetMediaAuditResult": 20,
    "GetMediaAuditResultDetail": 10,
    "GetMediaAuditResultTimeline": 10,
    "GetMediaAuditAudioResultDetail": 20,
    # video AI
    "SubmitAIJob": 30,
    "ListAIJob": 30,
    "AddAITemplate": 5,
    "DeleteAITemplate": 5,
    "UpdateAITemplate": 5,
    "GetAITemplate": 5,
    "ListAITemplate": 5,
    "SetDefaultAITemplate": 5,
    "GetDefaultAITemplate": 10,
    "GetMediaDNAResult": 20,
    "SubmitMediaDNADeleteJob": 10,
    "GetAIVideoTagResult": 10,
    "SubmitAIImageJob": 30,
    "GetAIImageJobs": 30,
    "ListAIImageInfo": 100,
    "DeleteAIImageInfos": 100,
    # live-to-VOD
    "ListLiveRecordVideo": 50,
    # VOD CDN: monitoring, domains, verification, configuration
    "DescribeVodDomainTrafficData": 100,
    "DescribeVodDomainBpsData": 100,
    "AddVodDomain": 30,
    "UpdateVodDomain": 30,
    "DeleteVodDomain": 10,
    "BatchStartVodDomain": 30,
    "BatchStopVodDomain": 30,
    "DescribeVodUserDomains": 100,
    "DescribeVodDomainDetail": 30,
    "VerifyVodDomainOwner": 100,
    "DescribeVodVerifyContent": 100,
    "BatchSetVodDomainConfigs": 30,
    "DescribeVodDomainConfigs": 30,
    "DeleteVodSpecificConfig": 10,
    "SetVodDomainCertificate": 30,
    "DescribeVodCertificateList": 30,
    "DescribeVodDomainCertificateInfo": 100,
    # refresh and preload
    "PreloadVodObjectCaches": 50,
    "RefreshVodObjectCaches": 50,
    "DescribeVodRefreshTasks": 50,
    "DescribeVodRefreshQuota": 30,
    "DescribeVodDomainLog": 100,
    # usage and playback statistics
    "DescribeVodDomainUsageData": 20,
    "DescribeVodStorageData": 10,
    "DescribeVodTranscodeData": 10,
    "DescribeVodAIData": 10,
    "DescribePlayTopVideos": 100,
    "DescribePlayUserAvg": 100,
    "DescribePlayUserTotal": 100,
    "DescribePlayVideoStatis": 100,
    # multi-application
    "CreateAppInfo": 50,
    "GetAppInfos": 100,
    "ListAppInfo": 30,
    "UpdateAppInfo": 30,
    "DeleteAppInfo": 10,
    "AttachAppPolicyToIdentity": 10,
    "DetachAppPolicyFromIdentity": 10,
    "ListAppPoliciesForIdentity": 10,
    "MoveAppResource": 30,
    # global configuration
    "SetCrossdomainContent": 10,
    "SetMessageCallback": 15,
    "GetMessageCallback": 10,
    "DeleteMessageCallback": 10,
}

#: Key of `vod_qps` that sets a limit for every action the table does not list.
DEFAULT_KEY: Final = "*"


def effective_qps(overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """The table with `vod_qps` overrides applied; raises ValueError on a non-positive rate.

    A "*" override applies to actions missing from the table only; a listed action needs
    its own entry, so that one typo cannot silently raise every limit.
    """
    rates = dict(DEFAULT_QPS)
    for action, value in (overrides or {}).items():
        rate = float(value)
        if not rate > 0:
            raise ValueError(f"vod_qps[{action!r}] must be a positive number, got {value!r}")
        rates[action] = rate
    return rates
