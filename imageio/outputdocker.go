package imageio

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgc-dev/imgc/store"
)

// dockerImage is one image of a docker tarball and the tags it is loaded
// under.
type dockerImage struct {
	m    *v1.Manifest
	tags []string
}

// dockerImages groups imgs by image, each with its tags as docker load
// reads them, in the order first given; a tag given to several images
// names the last, and an image left without tags is not written.
func dockerImages(s *store.Store, imgs []Image) ([]*dockerImage, error) {
	owner := map[string]v1.Hash{}
	var given []struct {
		tag string
		d   v1.Hash
	}
	byDigest := map[v1.Hash]*dockerImage{}
	var digests []v1.Hash
	for _, bi := range imgs {
		if isIndex, err := s.IsIndex(bi.Digest); err != nil {
			return nil, err
		} else if isIndex {
			return nil, ErrDockerIndex
		}
		if byDigest[bi.Digest] == nil {
			img, err := s.Image(bi.Digest)
			if err != nil {
				return nil, err
			}
			m, err := img.Manifest()
			if err != nil {
				return nil, err
			}
			if err := ensureBlobs(s, m.Layers); err != nil {
				return nil, err
			}
			byDigest[bi.Digest] = &dockerImage{m: m}
			digests = append(digests, bi.Digest)
		}
		for _, n := range bi.Names {
			tag, err := dockerTag(n)
			if err != nil {
				return nil, fmt.Errorf("naming %s: %w", n, err)
			}
			// As go-containerregistry writes it: not fully qualified, with
			// an explicit :latest.
			ts := tag.String()
			if tag.Identifier() == name.DefaultTag && !strings.HasSuffix(ts, ":"+name.DefaultTag) {
				ts += ":" + name.DefaultTag
			}
			owner[ts] = bi.Digest
			given = append(given, struct {
				tag string
				d   v1.Hash
			}{ts, bi.Digest})
		}
	}
	for _, g := range given {
		if owner[g.tag] == g.d {
			di := byDigest[g.d]
			di.tags = append(di.tags, g.tag)
			delete(owner, g.tag)
		}
	}
	var out []*dockerImage
	for _, d := range digests {
		if di := byDigest[d]; len(di.tags) > 0 {
			out = append(out, di)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no image has a name to load it under")
	}
	// manifest.json lists the images by their tags, as go-containerregistry
	// sorts them; the files follow the same order.
	sort.SliceStable(out, func(i, j int) bool {
		return strings.Join(out[i].tags, ",") < strings.Join(out[j].tags, ",")
	})
	return out, nil
}

// dockerLayerFile is the name of a layer in a docker tarball, as
// go-containerregistry names it.
func dockerLayerFile(l v1.Descriptor) string {
	switch l.MediaType {
	case types.OCILayerZStd:
		return l.Digest.Hex + ".tar.zst"
	case types.OCIUncompressedLayer, types.OCIUncompressedRestrictedLayer, types.DockerUncompressedLayer:
		return l.Digest.Hex + ".tar"
	}
	return l.Digest.Hex + ".tar.gz"
}

// writeDockerArchive writes a `docker load` tarball of every image under
// every name, atomically: the entries go-containerregistry's
// tarball.MultiRefWrite writes (each image's config and layers, then
// manifest.json), in a fixed order, with layers copied by the kernel.
func writeDockerArchive(s *store.Store, dest string, imgs []Image) error {
	return writeAtomicallyFile(dest, func(f *os.File) error { return writeDockerTo(f, s, imgs) })
}

// writeDockerTo writes the docker tarball of imgs to f.
func writeDockerTo(f *os.File, s *store.Store, imgs []Image) error {
	dis, err := dockerImages(s, imgs)
	if err != nil {
		return err
	}
	var man tarball.Manifest
	for _, di := range dis {
		d := tarball.Descriptor{Config: di.m.Config.Digest.String(), RepoTags: di.tags}
		for _, l := range di.m.Layers {
			d.Layers = append(d.Layers, dockerLayerFile(l))
		}
		man = append(man, d)
	}
	mb, err := json.Marshal(man)
	if err != nil {
		return err
	}
	tf := &tarFile{f: f}
	seen := map[v1.Hash]bool{}
	for _, di := range dis {
		if err := tf.copyFile(di.m.Config.Digest.String(), s.BlobPath(di.m.Config.Digest), di.m.Config.Size); err != nil {
			return err
		}
		for _, l := range di.m.Layers {
			if seen[l.Digest] {
				continue
			}
			seen[l.Digest] = true
			if err := tf.copyFile(dockerLayerFile(l), s.BlobPath(l.Digest), l.Size); err != nil {
				return err
			}
		}
	}
	if err := tf.bytes("manifest.json", mb); err != nil {
		return err
	}
	return tf.close()
}
