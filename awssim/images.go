package awssim

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// defaultImageArch is what an AMI nobody registered runs on: most AMIs are
// x86_64, and tests and the sandbox launch arbitrary ids without declaring
// them, which must keep working.
const defaultImageArch = "x86_64"

// defaultImageCreated is the creationDate of an unregistered AMI. It has no
// real creation time, and a fixed one keeps answers reproducible.
const defaultImageCreated = "2024-01-01T00:00:00.000Z"

// imageArchList names the architectures EC2 gives images, for error text.
const imageArchList = "x86_64, arm64, i386, x86_64_mac, arm64_mac"

func validImageArch(a string) bool {
	switch a {
	case "x86_64", "arm64", "i386", "x86_64_mac", "arm64_mac":
		return true
	}
	return false
}

// image is an AMI registered with SetImage.
type image struct {
	arch    string
	created time.Time
}

// wellFormedAMI is the rule awssim has always applied to ImageId: only the
// prefix. EC2 wants 8 or 17 hex digits, but spotter's own checks allow
// shorter ids and its tests launch ids such as ami-1, so tightening it here
// would refuse launches that worked before.
func wellFormedAMI(id string) bool { return strings.HasPrefix(id, "ami-") }

func errMalformedAMI(id string) *apiError {
	return &apiError{Code: "InvalidAMIID.Malformed", Message: fmt.Sprintf("Invalid id: %q (expecting \"ami-...\")", id)}
}

// SetImage registers (or re-registers) an AMI in a region with an
// architecture, so launches can be refused on a mismatch as EC2 does. An
// empty region is DefaultRegion, as for SetCapacity. Reset forgets it.
func (s *Sim) SetImage(regionName, imageID, arch string) error {
	if regionName == "" {
		regionName = DefaultRegion
	}
	r, ok := s.regions[regionName]
	if !ok {
		return fmt.Errorf("unknown region %q", regionName)
	}
	if !wellFormedAMI(imageID) {
		return fmt.Errorf("malformed image id %q (expecting ami-...)", imageID)
	}
	if !validImageArch(arch) {
		return fmt.Errorf("unknown architecture %q (want one of %s)", arch, imageArchList)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.images[imageID] = image{arch: arch, created: s.now()}
	return nil
}

// imageArch returns an AMI's architecture. The caller holds r.mu.
func (r *region) imageArch(imageID string) string {
	if img, ok := r.images[imageID]; ok {
		return img.arch
	}
	return defaultImageArch
}

// checkArch refuses an instance type that cannot run the AMI, with the
// code and text EC2 gives, so callers can match on either. The caller holds
// r.mu and has resolved the type against the catalogue.
func (r *region) checkArch(itype, imageID string) *apiError {
	t, ok := r.sim.catalog.types[itype]
	if !ok || imageID == "" {
		return nil
	}
	arch := r.imageArch(imageID)
	if contains(t.Arch, arch) {
		return nil
	}
	return &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("The architecture '%s' of the specified instance type does not match the architecture '%s' of the specified AMI. Specify an instance type and an AMI that have matching architectures, and try again. You can use 'describe-instance-types' or 'describe-images' to discover the architecture of the instance type or AMI.", strings.Join(t.Arch, ","), arch)}
}

// checkOffered refuses a type the region does not offer (the data set has
// no price for it there), as EC2 refuses a type it does not sell in a
// region.
func (r *region) checkOffered(itype string) *apiError {
	if itype == "" || r.offered(itype) {
		return nil
	}
	return &apiError{Code: "Unsupported", Message: fmt.Sprintf("The requested configuration is currently not supported. Instance type %s is not offered in %s.", itype, r.name)}
}

// imageView is one AMI as DescribeImages reports it.
type imageView struct {
	id, arch, created string
}

func (r *region) imageView(id string) imageView {
	if img, ok := r.images[id]; ok {
		return imageView{id: id, arch: img.arch, created: isoTime(img.created)}
	}
	return imageView{id: id, arch: defaultImageArch, created: defaultImageCreated}
}

func (s *Sim) describeImages(c *call, x *xmlWriter) *apiError {
	q, r := c.q, c.region
	ids := q.list("ImageId")
	for _, id := range ids {
		if !wellFormedAMI(id) {
			return errMalformedAMI(id)
		}
	}
	filters, err := parseFilters(q)
	if err != nil {
		return err
	}
	// Checked up front: when nothing is left to describe no image reaches
	// the filters, and an unknown name would pass unnoticed.
	for _, f := range filters {
		if _, known := s.imageFilterValue(imageView{}, f.name); !known {
			return errUnknownFilter(f.name)
		}
	}
	// Owner.N and ExecutableBy.N are ignored: every image is the account's.
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(ids) == 0 {
		ids = r.imageCandidates(filters)
	}
	var kept []imageView
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if v := r.imageView(id); s.matchImage(v, filters) {
			kept = append(kept, v)
		}
	}
	if q.boolean("DryRun") {
		return errDryRun()
	}
	owner := s.opts.AccountID
	x.open("imagesSet")
	for _, v := range kept {
		name := imageName(v.id)
		x.open("item")
		x.leaf("imageId", v.id)
		x.leaf("imageLocation", owner+"/"+name)
		x.leaf("imageState", "available")
		x.leaf("imageOwnerId", owner)
		x.leaf("creationDate", v.created)
		x.bool("isPublic", false)
		x.leaf("architecture", v.arch)
		x.leaf("imageType", "machine")
		x.leaf("name", name)
		x.leaf("rootDeviceType", "ebs")
		x.leaf("rootDeviceName", "/dev/xvda")
		x.leaf("virtualizationType", "hvm")
		x.leaf("hypervisor", "xen")
		x.bool("enaSupport", true)
		x.leaf("platformDetails", "Linux/UNIX")
		x.leaf("usageOperation", "RunInstances")
		x.close("item")
	}
	x.close("imagesSet")
	return nil
}

// imageCandidates lists what a DescribeImages without ImageId looks at: the
// region's registered images, plus the exact ids an image-id filter names,
// because every well-formed id is an image even if nobody registered it.
// The caller holds r.mu.
func (r *region) imageCandidates(filters []filter) []string {
	ids := make([]string, 0, len(r.images))
	for id := range r.images {
		ids = append(ids, id)
	}
	for _, f := range filters {
		if f.name != "image-id" {
			continue
		}
		for _, v := range f.values {
			if wellFormedAMI(v) && !strings.ContainsAny(v, `*?\`) {
				ids = append(ids, v)
			}
		}
	}
	sort.Strings(ids)
	return ids
}

// imageFilterValue is an image's value for a DescribeImages filter; known
// is false for a filter awssim does not support.
func (s *Sim) imageFilterValue(v imageView, name string) (val string, known bool) {
	switch name {
	case "image-id":
		return v.id, true
	case "architecture":
		return v.arch, true
	case "name":
		return imageName(v.id), true
	case "owner-id":
		return s.opts.AccountID, true
	case "state":
		return "available", true
	case "image-type":
		return "machine", true
	case "is-public":
		return "false", true
	case "root-device-type":
		return "ebs", true
	case "virtualization-type":
		return "hvm", true
	case "platform-details":
		return "Linux/UNIX", true
	}
	return "", false
}

func (s *Sim) matchImage(v imageView, filters []filter) bool {
	for _, f := range filters {
		val, _ := s.imageFilterValue(v, f.name)
		if !f.matches([]string{val}) {
			return false
		}
	}
	return true
}

func imageName(id string) string { return "awssim-" + id }
