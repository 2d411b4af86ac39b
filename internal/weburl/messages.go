package weburl

import (
	"strconv"

	"github.com/reportit/reportit/internal/report"
)

// Every message a reporter can get from this package, defined once. They are
// shown to ordinary people, so they say what is wrong and what to do, in
// plain words. None of them quotes any part of the input: a refused URL may
// itself be evidence, and an error message may end up in a log.
const (
	msgEmpty    = "The address is empty. Copy the full address from your browser's address bar, including the https:// at the start."
	msgNoScheme = "This address is incomplete: it does not start with http:// or https://. " +
		"Copy the full address from your browser's address bar, including the https:// at the start."
	msgControl = "The address contains invisible control characters. Copy it again directly from your browser's address bar."
	msgBadUTF8 = "The address contains characters that cannot be read. Copy it again directly from your browser's address bar."

	msgIsContent = "This kind of address (starting with data: or blob:) is the picture or video itself, so it cannot be sent, " +
		"and it must not be copied or shared. Report the address of the web page where you saw it instead."
	msgJavaScript = "This is a piece of JavaScript code, not the address of a web page. " +
		"Report the address shown in your browser's address bar on the page where you saw the material."
	msgFile = "This address points to a file on your own device, which the hotline cannot see. " +
		"Report the web address (starting with https://) where you found it, and do not send or share the file itself."
	msgAbout = "This is an internal page of your browser (about:), not a website. " +
		"Report the address of the web page where you saw the material instead."
	msgBrowserPage = "This is an internal page of your browser (such as its settings, history or downloads), not a website. " +
		"Report the address of the web page where you saw the material instead."
	msgExtension = "This is a page inside a browser extension, which exists only on your device. " +
		"Report the address of the web page where you saw the material instead."
	msgViewSource = "This is your browser's view of a page's source code, not the page itself. " +
		"Remove view-source: from the start and report the page's own address."
	msgFTP = "FTP addresses (ftp://) cannot be reported here: only web addresses starting with http:// or https:// can. " +
		"Please report this one directly to your national hotline, using the form on its website."
	msgMailto = "This is an email address (mailto:), not a web page, and only web addresses starting with http:// or https:// can be reported here. " +
		"If abuse material was sent to you by email, contact your national hotline directly."
	msgOtherScheme = "Only web addresses starting with http:// or https:// can be reported here. " +
		"Copy the address of the web page from your browser's address bar."

	msgNoHost = "This address has no website name after the http:// or https://. " +
		"Copy the full address again from your browser's address bar."
	msgBadHost = "The website name in this address is not valid. Check that the address was copied completely and correctly."
	msgBadIP   = "The numeric (IP) address in this address is not valid. Check that the address was copied completely and correctly."
	msgBadPort = "The port number in this address (the number after the colon that follows the website name) is not valid. " +
		"Ports are whole numbers from 1 to 65535; check that the address was copied correctly."

	msgOwnDevice = "This address points to your own device (such as localhost or 127.0.0.1), which the hotline cannot reach. " +
		"Report the public address of the website where you saw the material instead."
	msgLocalNet = "This address points to a device on a private or local network, which the hotline cannot reach. " +
		"Report the public address of the website where you saw the material instead."
	msgZone = "This address names a network connection of your own device (the part after % inside the brackets), which the hotline cannot use. " +
		"Report the public address of the website instead."
	msgReservedIP = "This IP address is reserved for special purposes and is not used on the public internet, so the hotline cannot reach it. " +
		"Check that the address was copied correctly."
)

// fail builds the error for one refusal. It returns a new value each time
// because callers set Field on what they get back.
func fail(code report.Code, msg string) *report.Error {
	return &report.Error{Code: code, Message: msg}
}

func tooLong() *report.Error {
	return fail(report.CodeURLTooLong, "This address is longer than "+strconv.Itoa(MaxLen)+
		" characters, which is too long to report. Check that you copied only the address and nothing else.")
}
