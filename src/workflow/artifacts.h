// Artifacts of workflow pods: input artifacts fetched to a local path before a pod starts, and
// output artifacts saved from one after it ends, as Argo's executor does.
//
// Locations (the fields of an Argo artifact):
//   s3: {endpoint, bucket, key, insecure, region, accessKeySecret, secretKeySecret}
//       -> an S3-compatible store through src/storage (credentials: ArtifactOptions::s3, which
//          the caller fills from the environment; a Kubernetes secret has no meaning here);
//   s3: {key} alone (no bucket)  -> the default artifact repository, as in Argo: here a local
//          directory, LoomHome()/artifacts (ArtifactOptions::repository_dir);
//   raw: {data}                   -> the text itself (inputs only);
//   http: {url}                   -> fetched with a GET (inputs only; a tarball is unpacked);
//   no location (outputs)         -> the default repository, key "<workflow>/<node id>/<name>.tgz".
// Archives: tgz by default (a tar of the path's base name, gzip'd, as Argo), or `archive: {none: {}}`
// (a file stored as it is; a directory as one object per file under the key). Fetched objects
// that are tarballs are unpacked (Argo's rule), so either form comes back as the same path.
// The tar format lives in this file only (libarchive).
#pragma once

#include <string>

#include "core/json.h"
#include "core/status.h"
#include "storage/s3_store.h"
#include "workflow/model.h"

namespace loom::workflow {

struct ArtifactOptions {
  std::string repository_dir;  // the default artifact repository (LoomHome()/artifacts)
  storage::S3Options s3;       // defaults for s3 artifacts: credentials, region, endpoint
};

// Fetches `artifact` (an entry of a resolved template's inputs.artifacts) to `dest` (a file or a
// directory, created with its parents). `field` names it in errors ("inputs.artifacts.data").
// An artifact with no source that is `optional: true` is skipped (OK, nothing written).
Status LoadArtifact(const Artifact& artifact, const std::string& dest, const ArtifactOptions& options,
                    const std::string& field);

// Saves the file or directory `src` as the output artifact declared by `artifact`; `default_key`
// is used when the declaration names no key ("<workflow>/<node id>/<name>.tgz"). Returns the
// artifact as Argo records it in node outputs (the declaration plus its location).
StatusOr<Artifact> SaveArtifact(const Artifact& artifact, const std::string& src, const std::string& default_key,
                            const ArtifactOptions& options, const std::string& field);

// Argo's AppendToKey, for an argument artifact's `subPath`: the artifact's s3 key (its own
// store's or the default repository's) becomes key/sub_path, cleaned as Go's path.Join. An
// artifact without a key is refused; `field` names the argument in errors.
Status AppendToKey(Artifact* artifact, const std::string& sub_path, const std::string& field);

// tar+gzip of `src` (file or directory tree) with `entry_name` as its top-level name, written
// atomically to `tgz_path`.
Status WriteTgz(const std::string& src, const std::string& entry_name, const std::string& tgz_path);
// Unpacks a tar.gz (or plain tar) into `dir`, refusing entries that would land outside it.
Status ExtractTar(const std::string& archive_path, const std::string& dir);
// True when the file starts with gzip's magic or is a POSIX tar.
bool LooksLikeTarball(const std::string& path);

}  // namespace loom::workflow
