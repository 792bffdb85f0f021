// Reference encoder for differential tests: Go's own net/url, encoding/json
// and encoding/base64, which dubbo-go uses to write its annotation.
module podreg.io/testenv/gocompat

go 1.24
