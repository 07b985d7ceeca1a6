package awssim_test

import (
	"maps"
	"net/http"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spotter-dev/spotter/awssim"
)

const (
	armAMI = "ami-0a1b2c3d4e5f60718"
	x86AMI = "ami-0123456789abcdef0" // never registered: the default image
)

func mustSetImage(t *testing.T, w *testWorld, region, id, arch string) {
	t.Helper()
	if err := w.sim.SetImage(region, id, arch); err != nil {
		t.Fatalf("SetImage(%s, %s, %s): %v", region, id, arch, err)
	}
}

func TestDescribeImages(t *testing.T) {
	archFilter := func(v ...string) []types.Filter {
		return []types.Filter{{Name: aws.String("architecture"), Values: v}}
	}
	tests := []struct {
		name   string
		region string // us-east-1 if empty
		in     *ec2.DescribeImagesInput
		// want maps each image id expected, in order, to its architecture.
		want     [][2]string
		wantCode string
		wantHTTP int
	}{
		{name: "registered arm64", in: &ec2.DescribeImagesInput{ImageIds: []string{armAMI}}, want: [][2]string{{armAMI, "arm64"}}},
		{name: "unregistered is x86_64", in: &ec2.DescribeImagesInput{ImageIds: []string{x86AMI}, Owners: []string{"self"}}, want: [][2]string{{x86AMI, "x86_64"}}},
		{name: "several ids keep their order and drop repeats", in: &ec2.DescribeImagesInput{ImageIds: []string{x86AMI, armAMI, x86AMI}}, want: [][2]string{{x86AMI, "x86_64"}, {armAMI, "arm64"}}},
		{name: "registration is per region", region: "us-west-2", in: &ec2.DescribeImagesInput{ImageIds: []string{armAMI}}, want: [][2]string{{armAMI, "x86_64"}}},
		{name: "architecture filter", in: &ec2.DescribeImagesInput{ImageIds: []string{x86AMI, armAMI}, Filters: archFilter("arm64")}, want: [][2]string{{armAMI, "arm64"}}},
		{name: "architecture filter matching none", in: &ec2.DescribeImagesInput{ImageIds: []string{x86AMI}, Filters: archFilter("arm64")}},
		{name: "image-id filter with a wildcard", in: &ec2.DescribeImagesInput{ImageIds: []string{x86AMI, armAMI}, Filters: []types.Filter{{Name: aws.String("image-id"), Values: []string{"ami-0a1b*"}}}}, want: [][2]string{{armAMI, "arm64"}}},
		{name: "image-id filter names an unregistered image", in: &ec2.DescribeImagesInput{Filters: []types.Filter{{Name: aws.String("image-id"), Values: []string{x86AMI}}}}, want: [][2]string{{x86AMI, "x86_64"}}},
		{name: "no ids lists the registered images", in: &ec2.DescribeImagesInput{Owners: []string{"self"}}, want: [][2]string{{armAMI, "arm64"}}},
		{name: "no ids and a filter", in: &ec2.DescribeImagesInput{Filters: archFilter("x86_64")}},
		{name: "malformed id", in: &ec2.DescribeImagesInput{ImageIds: []string{x86AMI, "img-1234"}}, wantCode: "InvalidAMIID.Malformed", wantHTTP: http.StatusBadRequest},
		{name: "unknown filter", in: &ec2.DescribeImagesInput{Filters: []types.Filter{{Name: aws.String("kernel-id"), Values: []string{"aki-1"}}}}, wantCode: "InvalidParameterValue", wantHTTP: http.StatusBadRequest},
		{name: "dry run", in: &ec2.DescribeImagesInput{ImageIds: []string{armAMI}, DryRun: aws.Bool(true)}, wantCode: "DryRunOperation", wantHTTP: http.StatusPreconditionFailed},
	}
	w := mustWorld(t, awssim.Options{})
	mustSetImage(t, w, "us-east-1", armAMI, "arm64")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := w.ec2
			if tt.region != "" {
				c, _ = w.clients(awssim.DefaultAccessKeyID, awssim.DefaultSecretAccessKey, "", tt.region)
			}
			out, err := c.DescribeImages(ctx(t), tt.in)
			if tt.wantCode != "" {
				wantErr(t, err, tt.wantCode, tt.wantHTTP)
				return
			}
			if err != nil {
				t.Fatalf("DescribeImages: %v", err)
			}
			var got [][2]string
			for _, img := range out.Images {
				got = append(got, [2]string{aws.ToString(img.ImageId), string(img.Architecture)})
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("images = %v; want %v", got, tt.want)
			}
		})
	}

	t.Run("every member decodes", func(t *testing.T) {
		out, err := w.ec2.DescribeImages(ctx(t), &ec2.DescribeImagesInput{ImageIds: []string{armAMI, x86AMI}})
		if err != nil || len(out.Images) != 2 {
			t.Fatalf("DescribeImages = %+v, %v", out, err)
		}
		for _, img := range out.Images {
			id := aws.ToString(img.ImageId)
			if img.State != types.ImageStateAvailable || aws.ToString(img.OwnerId) != awssim.DefaultAccountID ||
				aws.ToBool(img.Public) || img.ImageType != types.ImageTypeValuesMachine ||
				aws.ToString(img.Name) != "awssim-"+id || aws.ToString(img.ImageLocation) != awssim.DefaultAccountID+"/awssim-"+id ||
				img.RootDeviceType != types.DeviceTypeEbs || aws.ToString(img.RootDeviceName) != "/dev/xvda" ||
				img.VirtualizationType != types.VirtualizationTypeHvm || aws.ToString(img.PlatformDetails) != "Linux/UNIX" ||
				aws.ToString(img.CreationDate) == "" {
				t.Errorf("image %s: %+v", id, img)
			}
		}
		if got, want := aws.ToString(out.Images[0].CreationDate), epoch.Format("2006-01-02T15:04:05.000Z"); got != want {
			t.Errorf("registered image created %s; want the registration time %s", got, want)
		}
	})
}

func TestSetImage(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	archOf := func(t *testing.T, id string) string {
		t.Helper()
		out, err := w.ec2.DescribeImages(ctx(t), &ec2.DescribeImagesInput{ImageIds: []string{id}})
		if err != nil || len(out.Images) != 1 {
			t.Fatalf("DescribeImages(%s) = %+v, %v", id, out, err)
		}
		return string(out.Images[0].Architecture)
	}
	tests := []struct {
		name                 string
		region, id, arch     string
		wantErr              bool
		wantArch             string // of id in us-east-1 afterwards
		viaHTTP, wantHTTP400 bool
	}{
		{name: "arm64", region: "us-east-1", id: armAMI, arch: "arm64", wantArch: "arm64"},
		{name: "empty region is the default", id: "ami-11111111", arch: "i386", wantArch: "i386"},
		{name: "re-registering changes the architecture", region: "us-east-1", id: armAMI, arch: "arm64_mac", wantArch: "arm64_mac"},
		{name: "unknown region", region: "mars-1", id: armAMI, arch: "arm64", wantErr: true},
		{name: "malformed id", region: "us-east-1", id: "img-1", arch: "arm64", wantErr: true},
		{name: "unknown architecture", region: "us-east-1", id: armAMI, arch: "aarch64", wantErr: true},
		{name: "HTTP control", viaHTTP: true, region: "us-east-1", id: "ami-22222222", arch: "x86_64_mac", wantArch: "x86_64_mac"},
		{name: "HTTP control refuses a bad architecture", viaHTTP: true, region: "us-east-1", id: "ami-22222222", arch: "sparc", wantHTTP400: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.viaHTTP {
				code := postJSON(t, w, "/_sim/image", map[string]string{"region": tt.region, "imageId": tt.id, "architecture": tt.arch})
				if want := map[bool]int{false: http.StatusOK, true: http.StatusBadRequest}[tt.wantHTTP400]; code != want {
					t.Fatalf("POST /_sim/image = %d; want %d", code, want)
				}
			} else if err := w.sim.SetImage(tt.region, tt.id, tt.arch); (err != nil) != tt.wantErr {
				t.Fatalf("SetImage(%q, %q, %q) = %v; want error %v", tt.region, tt.id, tt.arch, err, tt.wantErr)
			}
			if tt.wantArch != "" {
				if got := archOf(t, tt.id); got != tt.wantArch {
					t.Errorf("architecture of %s = %s; want %s", tt.id, got, tt.wantArch)
				}
			}
		})
	}

	t.Run("state shows and reset forgets", func(t *testing.T) {
		for _, r := range w.sim.State().Regions {
			want := map[string]string{}
			if r.Name == "us-east-1" {
				want = map[string]string{armAMI: "arm64_mac", "ami-11111111": "i386", "ami-22222222": "x86_64_mac"}
			}
			if !maps.Equal(r.Images, want) {
				t.Errorf("state of %s: images %v; want %v", r.Name, r.Images, want)
			}
		}
		if code := postJSON(t, w, "/_sim/reset", struct{}{}); code != http.StatusOK {
			t.Fatalf("POST /_sim/reset = %d", code)
		}
		if got := archOf(t, armAMI); got != "x86_64" {
			t.Errorf("after reset %s is %s; want the default x86_64", armAMI, got)
		}
		out, err := w.ec2.DescribeImages(ctx(t), &ec2.DescribeImagesInput{})
		if err != nil || len(out.Images) != 0 {
			t.Errorf("registered images after reset: %+v, %v", out, err)
		}
	})
}
